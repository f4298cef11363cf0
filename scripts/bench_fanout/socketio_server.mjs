// The guide's Socket.IO broadcaster, as a benchmark peer: `fight_detected` from one client is
// emitted to all as `fight_alert` (io.emit). WebSocket transport only. Loopback only.
import http from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 9003);
const server = http.createServer((req, res) => res.end("socket.io bench server"));
const io = new Server(server, { transports: ["websocket"], perMessageDeflate: false });
io.on("connection", (socket) => {
  socket.emit("welcome_message", "Welcome to the chat room!");
  socket.on("fight_detected", (data) => io.emit("fight_alert", data));
});
server.listen(port, "127.0.0.1", () => console.log(`socket.io on 127.0.0.1:${port}`));
