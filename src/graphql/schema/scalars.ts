/** `JSON` and `JSONObject`, from graphql-scalars (tool parameters, JSON schemas, parsed arguments and answers). */
import { JSONObjectResolver, JSONResolver } from 'graphql-scalars';
import { builder } from '../builder.js';

export const JSONScalar = builder.addScalarType('JSON', JSONResolver);
export const JSONObjectScalar = builder.addScalarType('JSONObject', JSONObjectResolver);
