package pgsvc.it;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PostgreSQL client on a plain socket, for what pgjdbc never sends (a v2 startup, garbage, a bare CancelRequest) or
 * hides (which authentication request came, the bytes before EOF). Reads time out after {@link #TIMEOUT_MILLIS}, the
 * deadline of every wait here.
 */
final class WireClient implements AutoCloseable {
    static final int TIMEOUT_MILLIS = 10_000;
    static final int PROTOCOL_3 = 3 << 16;

    /** One backend message: its type byte and its body (without type and length). */
    record Message(char type, byte[] body) {
        int authCode() {
            return ByteBuffer.wrap(body).getInt();
        }

        /** The fields of an ErrorResponse or NoticeResponse, by field type ('S', 'C', 'M', ...). */
        Map<Character, String> fields() {
            Map<Character, String> out = new LinkedHashMap<>();
            int i = 0;
            while (i < body.length && body[i] != 0) {
                char code = (char) body[i];
                int end = indexOf(body, i + 1);
                out.put(code, new String(body, i + 1, end - i - 1, StandardCharsets.UTF_8));
                i = end + 1;
            }
            return out;
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;

    private WireClient(Socket socket) throws IOException {
        this.socket = socket;
        socket.setSoTimeout(TIMEOUT_MILLIS);
        this.in = new DataInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    static WireClient open(int port) throws IOException {
        return new WireClient(new Socket("127.0.0.1", port));
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    void sendStartup(int protocol, Map<String, String> params) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Map.Entry<String, String> p : params.entrySet()) {
            cstring(body, p.getKey());
            cstring(body, p.getValue());
        }
        body.write(0);
        sendUntyped(protocol, body.toByteArray());
    }

    void sendSslRequest() throws IOException {
        sendUntyped(80877103, new byte[0]);
    }

    void sendCancelRequest(int pid, int secret) throws IOException {
        sendUntyped(80877102, ByteBuffer.allocate(8).putInt(pid).putInt(secret).array());
    }

    /** One byte, as the answer to SSLRequest; -1 at EOF. */
    int readByte() throws IOException {
        return in.read();
    }

    Message read() throws IOException {
        char type = (char) in.readUnsignedByte();
        int length = in.readInt();
        byte[] body = new byte[length - 4];
        in.readFully(body);
        return new Message(type, body);
    }

    /** Reads messages until one of {@code type}, skipping others; fails with what came if an ErrorResponse comes. */
    Message readUntil(char type) throws IOException {
        while (true) {
            Message m = read();
            if (m.type() == type) {
                return m;
            }
            if (m.type() == 'E') {
                throw new IOException("ErrorResponse while waiting for '" + type + "': " + m.fields());
            }
        }
    }

    /**
     * Reads until the peer closes the connection and returns what came before; a read that waits longer than the
     * timeout fails, since the peer was expected to close.
     */
    byte[] readToEof() throws IOException {
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            int n;
            while ((n = in.read(buf)) >= 0) {
                seen.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new IOException("no EOF within " + TIMEOUT_MILLIS + " ms; received " + seen.size() + " bytes", e);
        } catch (IOException reset) {
            // A close with unread input becomes a reset: still the end of the connection.
        }
        return seen.toByteArray();
    }

    /**
     * Logs in as {@code user} with a v3 StartupMessage, answering cleartext and MD5 password requests, and returns
     * everything up to and including ReadyForQuery; the first message that is not part of a login (an ErrorResponse)
     * is returned last.
     */
    List<Message> login(String user, String password, Map<String, String> extra) throws IOException {
        Map<String, String> params = new LinkedHashMap<>();
        params.put("user", user);
        params.put("database", "pgsvc");
        params.putAll(extra);
        sendStartup(PROTOCOL_3, params);
        List<Message> seen = new ArrayList<>();
        while (true) {
            Message m = read();
            seen.add(m);
            if (m.type() == 'R' && m.authCode() == 3) {
                sendTyped('p', cstringBytes(password));
            } else if (m.type() == 'R' && m.authCode() == 5) {
                byte[] salt = new byte[4];
                System.arraycopy(m.body(), 4, salt, 0, 4);
                String inner = md5Hex((password + user).getBytes(StandardCharsets.UTF_8));
                byte[] outer = new byte[32 + 4];
                System.arraycopy(inner.getBytes(StandardCharsets.US_ASCII), 0, outer, 0, 32);
                System.arraycopy(salt, 0, outer, 32, 4);
                sendTyped('p', cstringBytes("md5" + md5Hex(outer)));
            } else if (m.type() == 'R' && m.authCode() != 0) {
                return seen;
            } else if (m.type() == 'Z' || m.type() == 'E') {
                return seen;
            }
        }
    }

    /** A simple Query; returns the first column of each DataRow, and fails on an ErrorResponse. */
    List<String> query(String sql) throws IOException {
        sendTyped('Q', cstringBytes(sql));
        List<String> values = new ArrayList<>();
        String error = null;
        while (true) {
            Message m = read();
            if (m.type() == 'D') {
                ByteBuffer b = ByteBuffer.wrap(m.body());
                b.getShort();
                int len = b.getInt();
                values.add(len < 0 ? null : new String(m.body(), b.position(), len, StandardCharsets.UTF_8));
            } else if (m.type() == 'E') {
                error = m.fields().toString();
            } else if (m.type() == 'Z') {
                if (error != null) {
                    throw new IOException("query failed: " + error);
                }
                return values;
            }
        }
    }

    void terminate() throws IOException {
        sendTyped('X', new byte[0]);
    }

    private void sendUntyped(int code, byte[] body) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + body.length).putInt(8 + body.length).putInt(code).put(body);
        sendRaw(b.array());
    }

    private void sendTyped(char type, byte[] body) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body);
        sendRaw(b.array());
    }

    private static void cstring(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
        out.write(0);
    }

    private static byte[] cstringBytes(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        cstring(out, s);
        return out.toByteArray();
    }

    private static int indexOf(byte[] b, int from) {
        for (int i = from; i < b.length; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        return b.length;
    }

    static String md5Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
