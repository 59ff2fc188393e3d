package pgsvc.it;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A client session on a plain socket, for what a driver never does: send a query and then not read its result, or
 * vanish (a TCP reset, no Terminate) in the middle of a transaction. Logs in to database pgsvc answering cleartext
 * and MD5 password requests. Every read gives up after {@link #TIMEOUT_MILLIS}.
 */
final class RawClient implements AutoCloseable {
    static final int TIMEOUT_MILLIS = 60_000;

    /**
     * What one simple Query brought, up to its ReadyForQuery.
     *
     * @param values    first column of each DataRow, if they were kept
     * @param dataRows  number of DataRow messages
     * @param tags      CommandComplete tags, in order
     * @param sqlState  SQLSTATE of the ErrorResponse, or null
     * @param error     message of the ErrorResponse, or null
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

    private RawClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 65536));
        this.out = socket.getOutputStream();
    }

    /** Connects and logs in; {@code receiveBuffer} > 0 sets SO_RCVBUF first, to keep what the kernel buffers small. */
    static RawClient login(int port, String user, String password, int receiveBuffer) throws IOException {
        Socket socket = new Socket();
        try {
            if (receiveBuffer > 0) {
                socket.setReceiveBufferSize(receiveBuffer);
            }
            socket.setSoTimeout(TIMEOUT_MILLIS);
            socket.connect(new InetSocketAddress("127.0.0.1", port), TIMEOUT_MILLIS);
            RawClient c = new RawClient(socket);
            c.startup(user, password);
            return c;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    static RawClient login(int port, String user, String password) throws IOException {
        return login(port, user, password, 0);
    }

    private void startup(String user, String password) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(ByteBuffer.allocate(4).putInt(3 << 16).array());
        cstring(body, "user");
        cstring(body, user);
        cstring(body, "database");
        cstring(body, "pgsvc");
        body.write(0);
        byte[] b = body.toByteArray();
        out.write(ByteBuffer.allocate(4).putInt(4 + b.length).array());
        out.write(b);
        out.flush();
        while (true) {
            char type = (char) in.readUnsignedByte();
            byte[] m = new byte[in.readInt() - 4];
            in.readFully(m);
            if (type == 'E') {
                throw new IOException("login failed: " + errorFields(m));
            } else if (type == 'Z') {
                return;
            } else if (type == 'R') {
                int code = ByteBuffer.wrap(m).getInt();
                if (code == 3) {
                    send('p', cstringBytes(password));
                } else if (code == 5) {
                    String inner = md5Hex((password + user).getBytes(StandardCharsets.UTF_8));
                    ByteArrayOutputStream outer = new ByteArrayOutputStream();
                    outer.writeBytes(inner.getBytes(StandardCharsets.US_ASCII));
                    outer.write(m, 4, 4);
                    send('p', cstringBytes("md5" + md5Hex(outer.toByteArray())));
                } else if (code != 0) {
                    throw new IOException("unsupported authentication request " + code);
                }
            }
        }
    }

    /** Sends a simple Query and returns at once, without reading anything. */
    void sendQuery(String sql) throws IOException {
        send('Q', cstringBytes(sql));
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
            byte[] m = new byte[length];
            in.readFully(m);
            switch (type) {
                case 'D' -> {
                    rows++;
                    ByteBuffer b = ByteBuffer.wrap(m);
                    b.getShort();
                    int len = b.getInt();
                    values.add(len < 0 ? null : new String(m, b.position(), len, StandardCharsets.UTF_8));
                }
                case 'C' -> tags.add(new String(m, 0, m.length - 1, StandardCharsets.UTF_8));
                case 'E' -> {
                    List<String> f = errorFields(m);
                    sqlState = field(m, 'C');
                    error = f.toString();
                }
                case 'Z' -> {
                    return new Result(values, rows, tags, sqlState, error, (char) m[0]);
                }
                default -> {
                    // RowDescription, NoticeResponse, ParameterStatus: nothing to check here
                }
            }
        }
    }

    /** Goes away as a crashed client would: no Terminate, and a reset rather than an orderly FIN. */
    void vanish() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** Terminate, then close. */
    @Override
    public void close() throws IOException {
        try {
            if (!socket.isClosed()) {
                send('X', new byte[0]);
            }
        } catch (IOException alreadyGone) {
            // closing anyway
        } finally {
            socket.close();
        }
    }

    private void send(char type, byte[] body) throws IOException {
        out.write(ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body).array());
        out.flush();
    }

    private static List<String> errorFields(byte[] m) {
        List<String> fields = new ArrayList<>();
        int i = 0;
        while (i < m.length && m[i] != 0) {
            int end = i + 1;
            while (end < m.length && m[end] != 0) {
                end++;
            }
            fields.add((char) m[i] + "=" + new String(m, i + 1, end - i - 1, StandardCharsets.UTF_8));
            i = end + 1;
        }
        return fields;
    }

    private static String field(byte[] m, char code) {
        for (String f : errorFields(m)) {
            if (f.charAt(0) == code) {
                return f.substring(2);
            }
        }
        return null;
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

    private static String md5Hex(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
