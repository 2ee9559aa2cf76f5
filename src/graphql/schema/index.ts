import { builder } from '../builder.js';
import './models.js';
import './completion.js';
import './keys.js';

export const schema = builder.toSchema();
