import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code java perf/IdleClients.java HOST PORT USER PASSWORD DATABASE COUNT}: opens COUNT PostgreSQL connections,
 * logs each in (trust, cleartext or md5 password), prints {@code ready opened=N failed=M} once all are done and
 * holds them, idle, until killed. For perf/idle-clients.sh, which measures what an idle client costs a pooler.
 */
public final class IdleClients {
    private static final int LOGIN_THREADS = 8;
    private static final int TIMEOUT_MILLIS = 30_000;
    private static final int PROTOCOL_3_0 = 196608;
    private static final int AUTH_OK = 0;
    private static final int AUTH_CLEARTEXT = 3;
    private static final int AUTH_MD5 = 5;
    /** Static so that no socket becomes unreachable: an unreachable socket's cleaner would close it. */
    private static final ConcurrentLinkedQueue<Socket> OPEN = new ConcurrentLinkedQueue<>();

    private IdleClients() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: java IdleClients.java HOST PORT USER PASSWORD DATABASE COUNT");
            System.exit(2);
        }
        InetSocketAddress address = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        String user = args[2];
        String password = args[3];
        String database = args[4];
        int count = Integer.parseInt(args[5]);

        AtomicInteger next = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        AtomicReference<String> firstError = new AtomicReference<>();
        Runnable worker = () -> {
            while (next.getAndIncrement() < count) {
                Socket socket = new Socket();
                try {
                    socket.connect(address, TIMEOUT_MILLIS);
                    socket.setSoTimeout(TIMEOUT_MILLIS);
                    login(socket, user, password, database);
                    socket.setSoTimeout(0);
                    OPEN.add(socket);
                } catch (IOException | RuntimeException e) {
                    failed.incrementAndGet();
                    firstError.compareAndSet(null, e.toString());
                    try {
                        socket.close();
                    } catch (IOException ignored) {
                        // failed already
                    }
                }
            }
        };
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < LOGIN_THREADS; i++) {
            Thread t = new Thread(worker, "login-" + i);
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        System.out.println("ready opened=" + OPEN.size() + " failed=" + failed.get()
                + (firstError.get() == null ? "" : " first_error=" + firstError.get()));
        System.out.flush();
        // Idle until killed; the operating system closes the sockets.
        Thread.sleep(Long.MAX_VALUE);
    }

    /** StartupMessage, the password exchange, then everything up to ReadyForQuery. */
    private static void login(Socket socket, String user, String password, String database) throws IOException {
        OutputStream out = socket.getOutputStream();
        DataInputStream in = new DataInputStream(socket.getInputStream());
        byte[] params = ("user\0" + user + "\0database\0" + database + "\0application_name\0idle-clients\0\0")
                .getBytes(StandardCharsets.UTF_8);
        // One write per message: PgBouncer wants the whole startup packet in one read.
        out.write(concat(concat(int32(8 + params.length), int32(PROTOCOL_3_0)), params));
        out.flush();
        while (true) {
            int type = in.readUnsignedByte();
            byte[] body = new byte[in.readInt() - 4];
            in.readFully(body);
            switch (type) {
                case 'R' -> {
                    int code = ((body[0] & 0xff) << 24) | ((body[1] & 0xff) << 16) | ((body[2] & 0xff) << 8)
                            | (body[3] & 0xff);
                    if (code == AUTH_CLEARTEXT) {
                        passwordMessage(out, password);
                    } else if (code == AUTH_MD5) {
                        byte[] salt = new byte[] {body[4], body[5], body[6], body[7]};
                        String inner = md5Hex((password + user).getBytes(StandardCharsets.UTF_8));
                        byte[] outer = concat(inner.getBytes(StandardCharsets.US_ASCII), salt);
                        passwordMessage(out, "md5" + md5Hex(outer));
                    } else if (code != AUTH_OK) {
                        throw new IOException("authentication request " + code + " is not supported (only "
                                + "trust, cleartext and md5)");
                    }
                }
                case 'E' -> throw new IOException("server error: "
                        + new String(body, StandardCharsets.UTF_8).replace('\0', ' ').trim());
                case 'Z' -> {
                    return;
                }
                default -> {
                    // ParameterStatus, BackendKeyData, NoticeResponse: nothing to do
                }
            }
        }
    }

    private static void passwordMessage(OutputStream out, String text) throws IOException {
        byte[] bytes = (text + "\0").getBytes(StandardCharsets.UTF_8);
        out.write(concat(concat(new byte[] {'p'}, int32(4 + bytes.length)), bytes));
        out.flush();
    }

    private static byte[] int32(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static String md5Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no MD5 in this JVM", e);
        }
    }
}
