// The guide's native `ws` broadcaster (docs: ../shared/seed), as a benchmark peer: every
// `fight_detected` is renamed `fight_alert` and sent to every client. Loopback only.
import http from "node:http";
import { WebSocketServer, WebSocket } from "ws";

const port = Number(process.argv[2] ?? 9002);
const server = http.createServer((req, res) => res.end("ws bench server"));
const wss = new WebSocketServer({ server, perMessageDeflate: false });
const head = '{"type":"fight_detected"';
wss.on("connection", (ws) => {
  ws.send('{"type":"welcome_message"}');
  ws.on("message", (data) => {
    const text = data.toString();
    if (!text.startsWith(head)) return;
    const alert = '{"type":"fight_alert"' + text.slice(head.length);
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(alert);
    }
  });
});
server.listen(port, "127.0.0.1", () => console.log(`ws on 127.0.0.1:${port}`));
