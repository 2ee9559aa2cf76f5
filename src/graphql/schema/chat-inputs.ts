/** The chat surface's inputs (issue #14): messages with parts, tools, tool choice, response formats, reasoning options. */
import { builder } from '../builder.js';
import { JSONObjectScalar } from './scalars.js';

export const ChatRole = builder.enumType('ChatRole', {
  description: 'Who wrote a chat message.',
  values: {
    SYSTEM: { value: 'system', description: 'Instructions that set the assistant’s behaviour.' },
    DEVELOPER: { value: 'developer', description: 'Instructions from the app’s developer (what newer models read instead of SYSTEM).' },
    USER: { value: 'user', description: 'The end user.' },
    ASSISTANT: { value: 'assistant', description: 'The model (earlier turns of the conversation, with any tool calls it made).' },
    TOOL: { value: 'tool', description: 'The answer to one of the model’s tool calls (`toolCallId` says which).' },
  } as const,
});

export const ImageDetail = builder.enumType('ImageDetail', {
  description: 'How closely the model looks at an image (and how many tokens it costs).',
  values: {
    AUTO: { value: 'auto', description: 'The model decides.' },
    LOW: { value: 'low', description: 'A 512×512 overview: 85 tokens.' },
    HIGH: { value: 'high', description: 'Full detail: 85 tokens plus 170 per 512-pixel tile.' },
  } as const,
});

export const AudioFormat = builder.enumType('AudioFormat', {
  description: 'The encoding of inline audio.',
  values: { WAV: { value: 'wav', description: 'WAV.' }, MP3: { value: 'mp3', description: 'MP3.' } } as const,
});

const ImageUrlInput = builder.inputType('ImageUrlInput', {
  description: 'An image: an http(s) URL, or a `data:image/…;base64,` URL.',
  fields: (t) => ({
    url: t.string({ required: true, description: 'http(s) URL or `data:image/<type>;base64,<data>`.' }),
    detail: t.field({ type: ImageDetail, description: 'How closely to look; default AUTO.' }),
  }),
});

const InputAudioInput = builder.inputType('InputAudioInput', {
  description: 'Inline audio, base64-encoded.',
  fields: (t) => ({
    data: t.string({ required: true, description: 'The audio, base64.' }),
    format: t.field({ type: AudioFormat, required: true, description: 'Its encoding.' }),
  }),
});

const FileInput = builder.inputType('FileInput', {
  description: 'A file: an uploaded file’s id, or its contents inline (base64) with a name.',
  fields: (t) => ({
    fileId: t.string({ description: 'The id of a file uploaded to the upstream.' }),
    fileData: t.string({ description: 'The file’s contents, base64 (a `data:` URL is accepted too).' }),
    filename: t.string({ description: 'Its name, with inline data.' }),
  }),
});

export const ContentPartInput = builder.inputType('ContentPartInput', {
  description: 'One part of a message’s content: exactly one of text, an image, audio or a file.',
  isOneOf: true,
  fields: (t) => ({
    text: t.string({ description: 'Text.' }),
    imageUrl: t.field({ type: ImageUrlInput, description: 'An image.' }),
    inputAudio: t.field({ type: InputAudioInput, description: 'Audio.' }),
    file: t.field({ type: FileInput, description: 'A file (PDF and the like).' }),
  }),
});

export const ToolCallInput = builder.inputType('ToolCallInput', {
  description: 'A tool call the model made earlier, sent back on its ASSISTANT message.',
  fields: (t) => ({
    id: t.string({ required: true, description: 'The call’s id, as the model gave it (`ToolCall.id`).' }),
    name: t.string({ required: true, description: 'The function called.' }),
    arguments: t.string({ required: true, description: 'Its arguments, as the model wrote them (`ToolCall.arguments`).' }),
  }),
});

export const ChatMessageInput = builder.inputType('ChatMessageInput', {
  description: 'One message of a chat conversation.',
  fields: (t) => ({
    role: t.field({ type: ChatRole, required: true, description: 'Who wrote the message.' }),
    content: t.string({
      description: 'The message text. Exactly one of `content` and `parts`, except an ASSISTANT message with `toolCalls`, which may have neither.',
    }),
    parts: t.field({ type: [ContentPartInput], description: 'The content as parts: text, images, audio, files (instead of `content`).' }),
    name: t.string({ description: 'The author’s name, to tell participants of the same role apart.' }),
    toolCalls: t.field({ type: [ToolCallInput], description: 'ASSISTANT only: the tool calls the model made in this turn.' }),
    toolCallId: t.string({ description: 'TOOL only (and required there): the id of the call this message answers.' }),
  }),
});

export const ToolInput = builder.inputType('ToolInput', {
  description: 'A function the model may call (sent as OpenAI’s `{type: "function", function: {…}}`).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'The function’s name: letters, digits, `_` and `-`, at most 64.' }),
    description: t.string({ description: 'What it does, for the model to decide when to call it.' }),
    parameters: t.field({ type: JSONObjectScalar, description: 'Its arguments, as a JSON Schema object.' }),
    strict: t.boolean({ description: 'Make the model follow `parameters` exactly (structured outputs).' }),
  }),
});

export const ToolChoiceMode = builder.enumType('ToolChoiceMode', {
  description: 'Whether the model may, must or must not call a tool.',
  values: {
    AUTO: { value: 'auto', description: 'The model decides.' },
    NONE: { value: 'none', description: 'No tool call; answer in text.' },
    REQUIRED: { value: 'required', description: 'At least one tool call.' },
  } as const,
});

export const ToolChoiceInput = builder.inputType('ToolChoiceInput', {
  description: 'Which tool the model may call: a mode, or one function by name.',
  isOneOf: true,
  fields: (t) => ({
    mode: t.field({ type: ToolChoiceMode, description: 'AUTO, NONE or REQUIRED.' }),
    function: t.string({ description: 'Call this function (one of `tools`).' }),
  }),
});

export const ResponseFormatType = builder.enumType('ResponseFormatType', {
  description: 'The form of the model’s answer.',
  values: {
    TEXT: { value: 'text', description: 'Free text.' },
    JSON_OBJECT: { value: 'json_object', description: 'Some JSON object (mention JSON in the prompt).' },
    JSON_SCHEMA: { value: 'json_schema', description: 'JSON valid against `jsonSchema.schema`.' },
  } as const,
});

const JsonSchemaFormatInput = builder.inputType('JsonSchemaFormatInput', {
  description: 'The schema a JSON_SCHEMA answer follows.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'A name for the schema.' }),
    schema: t.field({ type: JSONObjectScalar, required: true, description: 'A JSON Schema object.' }),
    strict: t.boolean({ description: 'Follow the schema exactly (structured outputs).' }),
    description: t.string({ description: 'What the answer is for.' }),
  }),
});

export const ResponseFormatInput = builder.inputType('ResponseFormatInput', {
  description: 'Ask for JSON: any object, or one valid against a schema. `Choice.json` then holds it parsed.',
  fields: (t) => ({
    type: t.field({ type: ResponseFormatType, required: true, description: 'TEXT, JSON_OBJECT or JSON_SCHEMA.' }),
    jsonSchema: t.field({ type: JsonSchemaFormatInput, description: 'Required with JSON_SCHEMA.' }),
  }),
});

export const ReasoningEffort = builder.enumType('ReasoningEffort', {
  description: 'How much a reasoning model thinks before it answers (more is slower and costs more output tokens).',
  values: {
    NONE: { value: 'none', description: 'No reasoning (models that allow it).' },
    MINIMAL: { value: 'minimal', description: 'As little as the model allows.' },
    LOW: { value: 'low', description: 'Some.' },
    MEDIUM: { value: 'medium', description: 'The usual default.' },
    HIGH: { value: 'high', description: 'More.' },
    XHIGH: { value: 'xhigh', description: 'The most (models that offer it).' },
  } as const,
});

export const Verbosity = builder.enumType('Verbosity', {
  description: 'How long and detailed the answer is.',
  values: {
    LOW: { value: 'low', description: 'Short.' },
    MEDIUM: { value: 'medium', description: 'The default.' },
    HIGH: { value: 'high', description: 'Long and detailed.' },
  } as const,
});
