package pgsvc.it;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PostgreSQL client on a plain socket, for what a driver never sends (a v2 startup, garbage, a bare CancelRequest),
 * hides (which authentication request came, the bytes before EOF) or never does (send a query and then not read its
 * result, or vanish with a TCP reset in the middle of a transaction). Logs in to database pgsvc answering cleartext
 * and MD5 password requests. Every read gives up after {@link #TIMEOUT_MILLIS}, the deadline of every wait here.
 */
final class WireClient implements AutoCloseable {
    static final int TIMEOUT_MILLIS = 60_000;
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

    /**
     * What one simple Query brought, up to its ReadyForQuery.
     *
     * @param values    first column of each DataRow, if they were kept
     * @param dataRows  number of DataRow messages
     * @param tags      CommandComplete tags, in order
     * @param sqlState  SQLSTATE of the ErrorResponse, or null
     * @param error     fields of the ErrorResponse, or null
     * @param txStatus  the ReadyForQuery status: 'I', 'T' or 'E'
     */
    record Result(List<String> values, long dataRows, List<String> tags, String sqlState, String error, char txStatus) {
        Result orThrow() {
            if (sqlState != null) {
                throw new IllegalStateException("query failed: " + sqlState + " " + error);
            }
            return this;
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    /** Set once a ReadyForQuery came: only then does {@link #close()} say Terminate. */
    private boolean ready;

    private WireClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 65536));
        this.out = socket.getOutputStream();
    }

    static WireClient open(int port) throws IOException {
        return open(port, 0);
    }

    /**
     * Connects and sends nothing yet; {@code receiveBuffer} > 0 sets SO_RCVBUF first, to keep what the kernel buffers
     * small.
     */
    static WireClient open(int port, int receiveBuffer) throws IOException {
        Socket socket = new Socket();
        try {
            if (receiveBuffer > 0) {
                socket.setReceiveBufferSize(receiveBuffer);
            }
            socket.setSoTimeout(TIMEOUT_MILLIS);
            socket.connect(new InetSocketAddress("127.0.0.1", port), TIMEOUT_MILLIS);
            return new WireClient(socket);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    /** A client on a socket that is already connected (and, for TLS tests, already past its handshake). */
    static WireClient over(Socket socket) throws IOException {
        socket.setSoTimeout(TIMEOUT_MILLIS);
        return new WireClient(socket);
    }

    /** Connects and logs in to database pgsvc, or fails with what the pooler answered instead of ReadyForQuery. */
    static WireClient connect(int port, String user, String password) throws IOException {
        return connect(port, user, password, 0);
    }

    static WireClient connect(int port, String user, String password, int receiveBuffer) throws IOException {
        WireClient c = open(port, receiveBuffer);
        try {
            List<Message> login = c.login(user, password, Map.of());
            Message last = login.get(login.size() - 1);
            if (last.type() == 'E') {
                throw new IOException("login failed: " + last.fields());
            } else if (last.type() != 'Z') {
                throw new IOException("unsupported authentication request " + last.authCode());
            }
            return c;
        } catch (IOException | RuntimeException e) {
            c.socket.close();
            throw e;
        }
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

    /** Sends a simple Query and returns at once, without reading anything. */
    void sendQuery(String sql) throws IOException {
        sendTyped('Q', cstringBytes(sql));
    }

    /** One byte, as the answer to SSLRequest; -1 at EOF. */
    int readByte() throws IOException {
        return in.read();
    }

    Message read() throws IOException {
        char type = (char) in.readUnsignedByte();
        return new Message(type, readBody(in.readInt() - 4));
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
     * everything up to and including ReadyForQuery; the first message that is not part of a login (an ErrorResponse,
     * an authentication request this client cannot answer) is returned last.
     */
    List<Message> login(String user, String password, Map<String, String> extra) throws IOException {
        return login(user, password, extra, new byte[0]);
    }

    /**
     * The same, with {@code trailing} sent in the same write as the password message: what a client pipelines
     * behind its login, such as the first bytes of a Query.
     */
    List<Message> login(String user, String password, Map<String, String> extra, byte[] trailing) throws IOException {
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
                sendRaw(concat(typed('p', cstringBytes(password)), trailing));
            } else if (m.type() == 'R' && m.authCode() == 5) {
                String inner = md5Hex((password + user).getBytes(StandardCharsets.UTF_8));
                ByteArrayOutputStream outer = new ByteArrayOutputStream();
                outer.writeBytes(inner.getBytes(StandardCharsets.US_ASCII));
                outer.write(m.body(), 4, 4);
                sendRaw(concat(typed('p', cstringBytes("md5" + md5Hex(outer.toByteArray()))), trailing));
            } else if (m.type() == 'R' && m.authCode() != 0) {
                return seen;
            } else if (m.type() == 'Z' || m.type() == 'E') {
                ready = m.type() == 'Z';
                return seen;
            }
        }
    }

    /** Sends a simple Query and reads its result, keeping the first column of each row. */
    Result query(String sql) throws IOException {
        sendQuery(sql);
        return readResult(true);
    }

    /** Reads up to and including ReadyForQuery; {@code keepValues} false only counts rows, for huge results. */
    Result readResult(boolean keepValues) throws IOException {
        List<String> values = new ArrayList<>();
        List<String> tags = new ArrayList<>();
        long rows = 0;
        String sqlState = null;
        String error = null;
        while (true) {
            char type = (char) in.readUnsignedByte();
            int length = in.readInt() - 4;
            if (type == 'D' && !keepValues) {
                rows++;
                in.skipNBytes(length);
                continue;
            }
            Message m = new Message(type, readBody(length));
            switch (type) {
                case 'D' -> {
                    rows++;
                    ByteBuffer b = ByteBuffer.wrap(m.body());
                    b.getShort();
                    int len = b.getInt();
                    values.add(len < 0 ? null : new String(m.body(), b.position(), len, StandardCharsets.UTF_8));
                }
                case 'C' -> tags.add(new String(m.body(), 0, length - 1, StandardCharsets.UTF_8));
                case 'E' -> {
                    sqlState = m.fields().get('C');
                    error = m.fields().toString();
                }
                case 'Z' -> {
                    return new Result(values, rows, tags, sqlState, error, (char) m.body()[0]);
                }
                default -> {
                    // RowDescription, NoticeResponse, ParameterStatus: nothing to check here
                }
            }
        }
    }

    void terminate() throws IOException {
        sendTyped('X', new byte[0]);
    }

    /** Goes away as a crashed client would: no Terminate, and a reset rather than an orderly FIN. */
    void vanish() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** Terminate if a login completed, then close. */
    @Override
    public void close() throws IOException {
        try {
            if (ready && !socket.isClosed()) {
                terminate();
            }
        } catch (IOException alreadyGone) {
            // closing anyway
        } finally {
            socket.close();
        }
    }

    private byte[] readBody(int length) throws IOException {
        byte[] body = new byte[length];
        in.readFully(body);
        return body;
    }

    private void sendUntyped(int code, byte[] body) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + body.length).putInt(8 + body.length).putInt(code).put(body);
        sendRaw(b.array());
    }

    private void sendTyped(char type, byte[] body) throws IOException {
        sendRaw(typed(type, body));
    }

    private static byte[] typed(char type, byte[] body) {
        return ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body).array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
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
}
