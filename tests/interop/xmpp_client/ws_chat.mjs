// Interop: @xmpp/client (xmpp.js) logs in over XMPP-over-WebSocket (RFC 7395), sends a message
// to a peer logged in over TCP, and waits for the peer's answer.
//
// Usage: node ws_chat.mjs --url ws://127.0.0.1:PORT/ws-xmpp --domain D --user U --password P
//        --peer BARE_JID --timeout SECONDS
// Prints "OK" and exits 0 on success; anything else exits 1 with the reason on stderr.
import { client } from "@xmpp/client";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    domain: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    peer: { type: "string" },
    timeout: { type: "string", default: "20" },
  },
});

if (typeof WebSocket === "undefined") {
  console.error("this node has no global WebSocket: run it with --experimental-websocket");
  process.exit(1);
}

const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), Number(args.timeout) * 1000).unref();

const xmpp = client({
  service: args.url,
  domain: args.domain,
  resource: "xmppjs",
  username: args.user,
  password: args.password,
});

xmpp.on("error", (err) => fail(`client error: ${err.stack || err}`));

xmpp.on("stanza", async (stanza) => {
  if (!stanza.is("message")) return;
  const body = stanza.getChildText("body");
  const from = String(stanza.attrs.from || "");
  if (body === "hello from tcp" && from.startsWith(`${args.peer}/`)) {
    console.log("OK");
    await xmpp.stop().catch(() => {});
    process.exit(0);
  }
});

xmpp.on("online", async (address) => {
  console.error(`online as ${address}`);
  const { xml } = await import("@xmpp/client");
  await xmpp.send(xml("presence"));
  await xmpp.send(
    xml("message", { to: args.peer, type: "chat", id: "interop-1" }, xml("body", {}, "hello from xmpp.js")),
  );
});

xmpp.start().catch((err) => fail(`start: ${err.stack || err}`));
