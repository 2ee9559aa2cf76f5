import { builder } from '../builder.js';
import './models.js';
import './completion.js';

export const schema = builder.toSchema();
