// Interop over BOSH: Strophe.js (the library under Converse.js, written by nobody here) logs in
// over BOSH (XEP-0206) with its own SASL choice, sends a chat message to a peer, waits for the
// peer's answer, and ends the session with an unavailable presence and a terminate body.
//
// Usage: node bosh_chat.mjs URL JID PASSWORD PEER_JID
// Prints `CONNECTED <full jid>`, then `GOT <body>`, then `DISCONNECTED`; exits 0 on success,
// 1 (with a reason) on any failure, 2 after 30 s.
import XHR2 from 'xhr2';
import { DOMParser } from '@xmldom/xmldom';

// Strophe's BOSH transport uses the browser's XMLHttpRequest; Node.js has none. xhr2 lacks
// `responseXML`, which browsers fill for text/xml answers (and Strophe 5 needs it: its fallback
// parses responseText but returns nothing), so it is added here.
class XMLHttpRequest extends XHR2 {
  get responseXML() {
    if (this.readyState !== 4 || !this.responseText) return null;
    return new DOMParser().parseFromString(this.responseText, 'text/xml');
  }
}
globalThis.XMLHttpRequest = XMLHttpRequest;
const { Strophe, $msg, $pres } = await import('strophe.js');

const [url, jid, password, peer] = process.argv.slice(2);
setTimeout(() => {
  console.log('TIMEOUT');
  process.exit(2);
}, 30000);

const conn = new Strophe.Connection(url);
let got = false;
conn.connect(jid, password, (status, condition) => {
  const S = Strophe.Status;
  if (status === S.CONNECTED) {
    console.log(`CONNECTED ${conn.jid}`);
    conn.addHandler((m) => {
      const body = m.getElementsByTagName('body')[0];
      if (!body) return true;
      console.log(`GOT ${body.textContent}`);
      got = true;
      conn.send($pres({ type: 'unavailable' }));
      conn.disconnect('done');
      return false;
    }, null, 'message');
    conn.send($pres());
    conn.send($msg({ to: peer, type: 'chat', id: 'strophe1' }).c('body').t('hello from strophe'));
  } else if (status === S.AUTHFAIL || status === S.CONNFAIL || status === S.ERROR) {
    console.log(`FAILED status=${status} condition=${condition}`);
    process.exit(1);
  } else if (status === S.DISCONNECTED) {
    console.log('DISCONNECTED');
    process.exit(got ? 0 : 1);
  }
});
