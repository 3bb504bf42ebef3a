// Real flows of the Vercel AI SDK (`ai` with `@ai-sdk/openai` and `@ai-sdk/anthropic`)
// against a gateway, run by tests/compat/matrix.py with NODE_PATH at the npm prefix that
// holds the versions under test:
//
//     node vercel_ai.mjs PROVIDER BASE_URL KEY ROUTE      (PROVIDER: openai | anthropic)
//
// prints {feature: "pass" | "n.a." | "fail: why", version}. What the mocks answer is in
// tests/compat/stack.py (COMPAT-OK, a get_weather call, TOOL-OK sunny-22, IMAGE-SEEN).
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const [provider, base, key, route] = process.argv.slice(2);
const ai = await import(require.resolve("ai"));
const pkg = provider === "openai" ? "@ai-sdk/openai" : "@ai-sdk/anthropic";
const sdk = await import(require.resolve(pkg));
const version = require(pkg + "/package.json").version + " (ai " + require("ai/package.json").version + ")";

const model =
  provider === "openai"
    ? sdk.createOpenAI({ baseURL: base + "/v1", apiKey: key }).chat(route)
    : sdk.createAnthropic({ baseURL: base + "/v1", apiKey: key })(route);
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const schema = ai.jsonSchema({
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
});
const weather = ai.tool({
  description: "The weather in a city",
  inputSchema: schema, // ai 5+
  parameters: schema, // ai 4
  execute: async () => "sunny-22",
});
const steps = ai.stepCountIs ? { stopWhen: ai.stepCountIs(3) } : { maxSteps: 3 };

function expect(ok, what) {
  if (!ok) throw new Error(JSON.stringify(what).slice(0, 300));
}

const flows = {
  plain: async () => {
    const { text } = await ai.generateText({ model, prompt: "Say hi", maxRetries: 0 });
    expect(text === "COMPAT-OK", text);
  },
  stream: async () => {
    const result = ai.streamText({ model, prompt: "Say hi", maxRetries: 0 });
    let text = "";
    for await (const piece of result.textStream) text += piece;
    expect(text === "COMPAT-OK", text);
  },
  tools: async () => {
    const { text } = await ai.generateText({
      model,
      prompt: "What is the weather in Paris? Use the tool.",
      tools: { get_weather: weather },
      maxRetries: 0,
      ...steps,
    });
    expect(text.includes("sunny-22"), text);
  },
  thinking: null,
  image: async () => {
    const { text } = await ai.generateText({
      model,
      maxRetries: 0,
      messages: [
        { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image", image: PNG, mediaType: "image/png", mimeType: "image/png" }] },
      ],
    });
    expect(text === "IMAGE-SEEN", text);
  },
};

const out = { version };
for (const [name, flow] of Object.entries(flows)) {
  if (flow === null) {
    out[name] = "n.a.";
    continue;
  }
  try {
    await flow();
    out[name] = "pass";
  } catch (error) {
    out[name] = "fail: " + String(error && error.message ? error.message : error).slice(0, 400);
  }
}
console.log(JSON.stringify(out));
