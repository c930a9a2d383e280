// An HTTP/2-over-TLS front for the fake Images API (fake_api.py), as the
// real API speaks HTTP/2 over TLS and the fake only HTTP/1.1. Every HTTP/2
// stream is forwarded to the fake as one HTTP/1.1 request and its answer is
// streamed back as it arrives, so faults, SSE, delays and records are the
// fake's own; what the front adds is the transport, and its count of the
// connections a client opened. Node's standard library only.
//
//   node spec/server/h2_front.mjs --upstream http://127.0.0.1:PORT \
//        --cert CERT.pem --key KEY.pem --port-file PATH [--port 0] [--watch-pid PID]
//
// - ALPN offers h2 only: a client that cannot speak HTTP/2 fails the TLS
//   handshake instead of silently falling back.
// - Each forwarded request carries `x-h2-connection: N` (N numbers the
//   HTTP/2 sessions from 1) and `x-h2-stream: ID`, so the fake's records say
//   which connection and stream every request came over, and
//   `forwarded: proto=https;host="HOST:PORT"` (RFC 7239), so that the image
//   URLs the fake hands out point at the front too.
// - An upstream answer that ends early (the fake's reset, truncate, drop)
//   becomes RST_STREAM INTERNAL_ERROR on that stream only, as an HTTP/2
//   server does; a stream the client resets (a cancelled job) aborts its
//   upstream request.
// - `GET /__h2/stats` answers here, not upstream:
//   {"sessions", "open_sessions", "tcp_connections", "tls_connections",
//    "streams", "max_open_streams", "reset_by_client", "reset_by_front"};
//   sessions and streams count only those that carried a forwarded
//   request, tcp_connections every one accepted (a client that refuses the
//   certificate never makes a TLS connection).
// - `GET /__h2/close` closes every session that carried a forwarded
//   request (GOAWAY, then the connection once its streams are done), so
//   that a client's next request needs a new connection; answers
//   {"closed": N}.
// - Once listening, PATH receives `PORT PID\n` (written to a temporary name,
//   then renamed). With --watch-pid it exits when that process is gone.

import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";

function parseArgs(argv) {
  const args = { port: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "").replace(/-/g, "_");
    if (i + 1 >= argv.length) throw new Error("missing value for " + argv[i]);
    args[name] = argv[i + 1];
  }
  for (const needed of ["upstream", "cert", "key", "port_file"]) {
    if (!args[needed]) throw new Error("--" + needed.replace(/_/g, "-") + " is required");
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const upstream = new URL(args.upstream);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const stats = {
  sessions: 0, open_sessions: 0, tcp_connections: 0, tls_connections: 0, streams: 0,
  max_open_streams: 0, reset_by_client: 0, reset_by_front: 0,
};
let openStreams = 0;
const apiSessions = new Set();

// Headers that belong to one HTTP/1.1 hop or are HTTP/2 pseudo-headers.
const HOP_HEADERS = new Set([
  "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host", "http2-settings",
]);

function forwardHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || HOP_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function answerLocal(stream, status, value) {
  const body = JSON.stringify(value);
  stream.respond({ ":status": status, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  stream.end(body);
}

function resetStream(stream) {
  if (!stream.destroyed && !stream.closed) {
    stats.reset_by_front += 1;
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

function forward(stream, headers, sessionNumber) {
  const requestHeaders = forwardHeaders(headers);
  requestHeaders.host = upstream.host;
  requestHeaders["x-h2-connection"] = String(sessionNumber);
  requestHeaders["x-h2-stream"] = String(stream.id);
  requestHeaders.forwarded = `proto=https;host="${headers[":authority"] || upstream.host}"`;
  const request = http.request({
    agent, host: upstream.hostname, port: upstream.port,
    method: headers[":method"], path: headers[":path"], headers: requestHeaders,
  });
  let answered = false;
  request.on("response", (response) => {
    const answer = { ":status": response.statusCode };
    for (const [name, value] of Object.entries(response.headers)) {
      if (!HOP_HEADERS.has(name)) answer[name] = value;
    }
    if (stream.destroyed || stream.closed) {
      response.destroy();
      return;
    }
    answered = true;
    stream.respond(answer);
    response.on("data", (chunk) => {
      if (!stream.write(chunk)) {
        response.pause();
        stream.once("drain", () => response.resume());
      }
    });
    response.on("end", () => {
      if (response.complete) stream.end();
      else resetStream(stream);
    });
    response.on("aborted", () => resetStream(stream));
    response.on("error", () => resetStream(stream));
  });
  request.on("error", () => {
    if (!answered || !stream.closed) resetStream(stream);
  });
  stream.on("aborted", () => {
    stats.reset_by_client += 1;
    request.destroy();
  });
  stream.on("close", () => {
    if (!request.destroyed && stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
      request.destroy();
    }
  });
  stream.on("error", () => request.destroy());
  stream.pipe(request);
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  allowHTTP1: false,
  ALPNProtocols: ["h2"],
  settings: { maxConcurrentStreams: 256 },
});

server.on("connection", () => { stats.tcp_connections += 1; });
server.on("secureConnection", () => { stats.tls_connections += 1; });
server.on("session", (session) => {
  session.on("error", () => {});
});

// Sessions are numbered when they carry their first forwarded request, so
// that the stats call itself (its own connection) is not counted.
function sessionNumber(session) {
  if (!session.gptimageNumber) {
    stats.sessions += 1;
    stats.open_sessions += 1;
    session.gptimageNumber = stats.sessions;
    apiSessions.add(session);
    session.on("close", () => {
      stats.open_sessions -= 1;
      apiSessions.delete(session);
    });
  }
  return session.gptimageNumber;
}
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  if (headers[":path"] === "/__h2/stats") {
    answerLocal(stream, 200, stats);
    return;
  }
  if (headers[":path"] === "/__h2/close") {
    const closing = [...apiSessions];
    for (const session of closing) session.close();
    answerLocal(stream, 200, { closed: closing.length });
    return;
  }
  stats.streams += 1;
  openStreams += 1;
  if (openStreams > stats.max_open_streams) stats.max_open_streams = openStreams;
  stream.on("close", () => { openStreams -= 1; });
  forward(stream, headers, sessionNumber(stream.session));
});
server.on("sessionError", () => {});
server.on("tlsClientError", () => {});

server.listen(Number(args.port), "127.0.0.1", () => {
  const temporary = args.port_file + ".tmp";
  fs.writeFileSync(temporary, `${server.address().port} ${process.pid}\n`);
  fs.renameSync(temporary, args.port_file);
});

if (args.watch_pid) {
  const pid = Number(args.watch_pid);
  setInterval(() => {
    // gone, or a zombie nobody has reaped yet
    let stat = "";
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch (error) {
      process.exit(0);
    }
    const state = (stat.match(/\)\s+(\S)/) || [])[1];
    if (state === "Z" || state === "X") process.exit(0);
  }, 500).unref();
}
process.on("SIGTERM", () => process.exit(0));
