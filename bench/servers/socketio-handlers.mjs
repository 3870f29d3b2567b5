/**
 * The Socket.IO baseline's behaviour, shared by the Node and Bun variants: a socket joins a
 * room with `join` (acknowledged), and `publish` emits its payload to everyone in the room.
 */
export function attach(io) {
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack();
    });
    socket.on("publish", (room, data) => {
      io.to(room).emit("message", data);
    });
  });
}
