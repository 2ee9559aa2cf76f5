/**
 * What the "tools" and "JSON answer" switches ask for: one demo function the model may
 * call, answered here in the browser with made-up weather, and a small JSON Schema for
 * structured answers. A real app would call its own backend where `runDemoTool` is.
 */
import type { ResponseFormatInput, ToolInput } from './gql/graphql';

export const WEATHER_TOOL: ToolInput = {
  name: 'get_weather',
  description: 'The current weather in a city.',
  parameters: {
    type: 'object',
    properties: {
      city: { type: 'string', description: 'The city, e.g. Paris' },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strict: true,
};

export const ANSWER_FORMAT: ResponseFormatInput = {
  type: 'JSON_SCHEMA',
  jsonSchema: {
    name: 'answer',
    description: 'A short answer, how sure the model is, and the topics it touches.',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        answer: { type: 'string' },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        topics: { type: 'array', items: { type: 'string' } },
      },
      required: ['answer', 'confidence', 'topics'],
      additionalProperties: false,
    },
  },
};

/** The demo tool's result for one call (JSON), made up from its arguments. */
export function runDemoTool(name: string, args: unknown): unknown {
  if (name !== WEATHER_TOOL.name) return { error: `This demo has no tool called ${name}` };
  const city = typeof args === 'object' && args !== null && 'city' in args ? String(args.city) : 'somewhere';
  const fahrenheit = typeof args === 'object' && args !== null && 'unit' in args && args.unit === 'fahrenheit';
  // Stable per city, so asking twice gives the same weather.
  const seed = [...city].reduce((sum, c) => sum + c.charCodeAt(0), 0);
  const celsius = 8 + (seed % 20);
  return {
    city,
    temperature: fahrenheit ? Math.round(celsius * 1.8 + 32) : celsius,
    unit: fahrenheit ? 'fahrenheit' : 'celsius',
    conditions: ['sunny', 'cloudy', 'rainy', 'windy'][seed % 4],
    source: 'made up by the chat demo',
  };
}
