// sdkclient: an ordinary program on the official SDKs (npm openai and
// @anthropic-ai/sdk, found through NODE_PATH), for the end-to-end tests.
// It makes one call with the SDK's defaults (base URL included) and
// prints one line, then lets the process end by itself:
//   text=ANSWER-TEXT events=N            (or err=ERROR)
// node sdkclient.js openai|anthropic whole|stream
// node sdkclient.js openai embeddings: client.embeddings.create for model
//   case-emb, printing text=dims:LENGTH first:FIRST-VALUE events=1
// node sdkclient.js openai responses|responses-stream:
//   client.responses.create for model case-resp, whole or streamed
// node sdkclient.js openai responses-final|responses-errors MODEL:
//   client.responses.stream, its final Response's text (as the SDK puts
//   it together from the events); or client.responses.create streamed,
//   printing error=CODE for an error event
// node sdkclient.js openai completions|completions-stream:
//   client.completions.create (the legacy API) for model case-cmpl
"use strict";
const [sdk, how, model] = process.argv.slice(2);
const messages = [{ role: "user", content: "hi" }];

async function main() {
  let text = "", events = 0, error = "";
  if (sdk === "openai") {
    const OpenAI = require("openai");
    const c = new OpenAI({ apiKey: "sk-sdk-caller", maxRetries: 0 });
    if (how === "responses-final") {
      const s = c.responses.stream({ model, input: "hi" });
      for await (const ev of s) events++;
      text = (await s.finalResponse()).output_text;
    } else if (how === "responses-errors") {
      const s = await c.responses.create({ model, input: "hi",
        stream: true });
      for await (const ev of s) {
        events++;
        if (ev.type === "response.output_text.delta") text += ev.delta;
        if (ev.type === "error") error = ` error=${ev.code}`;
      }
    } else if (how === "completions") {
      const r = await c.completions.create({ model: "case-cmpl",
        prompt: "Say hi", max_tokens: 20 });
      text = `${r.object}:${r.choices[0].text}`;
      events = 1;
    } else if (how === "completions-stream") {
      const s = await c.completions.create({ model: "case-cmpl",
        prompt: "Say hi", stream: true });
      for await (const ev of s) {
        events++;
        text += (ev.choices[0] && ev.choices[0].text) || "";
      }
    } else if (how === "responses") {
      const r = await c.responses.create({ model: "case-resp",
        input: "hi" });
      text = r.output_text;
      events = 1;
    } else if (how === "responses-stream") {
      const s = await c.responses.create({ model: "case-resp",
        input: "hi", stream: true });
      for await (const ev of s) {
        events++;
        if (ev.type === "response.output_text.delta") text += ev.delta;
      }
    } else if (how === "embeddings") {
      // The SDK asks for base64 and decodes it to floats itself.
      const r = await c.embeddings.create({ model: "case-emb",
        input: "hi" });
      const v = r.data[0].embedding;
      text = `dims:${v.length} first:${v[0]}`;
      events = 1;
    } else if (how === "stream") {
      const s = await c.chat.completions.create({ model: "gpt-4o",
        messages, stream: true });
      for await (const ev of s) {
        events++;
        text += (ev.choices[0] && ev.choices[0].delta.content) || "";
      }
    } else {
      const r = await c.chat.completions.create({ model: "gpt-4o",
        messages });
      text = r.choices[0].message.content;
      events = 1;
    }
  } else {
    const Anthropic = require("@anthropic-ai/sdk");
    const c = new Anthropic({ apiKey: "sk-ant-sdk-caller", maxRetries: 0 });
    if (how === "stream") {
      const s = await c.messages.create({ model: "claude-x",
        max_tokens: 64, messages, stream: true });
      for await (const ev of s) {
        events++;
        if (ev.type === "content_block_delta") text += ev.delta.text;
      }
    } else {
      const r = await c.messages.create({ model: "claude-x",
        max_tokens: 64, messages });
      text = r.content.map((b) => b.text).join("");
      events = 1;
    }
  }
  console.log(`text=${text} events=${events}${error}`);
}

main().catch((e) => {
  console.log(`err=${e.status || ""} ${e.message || e}`);
  process.exitCode = 1;
});
