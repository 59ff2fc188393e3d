package pgsvc.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy for tests that breaks connections on purpose: it sits between a client (pgsvc, or a driver) and a
 * server (PostgreSQL, or pgsvc) on 127.0.0.1 and passes bytes through until told otherwise. It can reset every
 * connection now, or act once when a marker string passes in one direction: reset that connection, stall that
 * direction (stop reading, as a hung server or a dead network would), drop that direction's bytes, or send garbage in
 * their place. It counts the connections it accepted and those still open.
 *
 * <p>Plain blocking sockets, two threads per connection: this is test code, and a proxy with its own event loop
 * would only add a second thing that can leak.
 */
public final class FaultProxy implements AutoCloseable {

    /** Which way bytes flow: from the proxy's client to its server, or back. */
    public enum Direction { TO_SERVER, TO_CLIENT }

    /** What a rule does to the connection whose bytes matched. */
    public enum Fault {
        /** Both sockets closed with RST, the matching bytes not passed on. */
        RESET,
        /** This direction stops being read, the matching bytes held back, until {@link #resumeAll()}. */
        STALL,
        /** The matching bytes and everything after them in this direction are read and thrown away. */
        DROP,
        /** The matching bytes are replaced by the rule's garbage; later bytes pass. */
        GARBAGE
    }

    /** A one-shot rule; {@link #fired()} tells whether a connection matched it. */
    public static final class Rule {
        private final Direction direction;
        private final byte[] marker;
        private final Fault fault;
        private final byte[] garbage;
        private final AtomicBoolean fired = new AtomicBoolean();

        private Rule(Direction direction, byte[] marker, Fault fault, byte[] garbage) {
            this.direction = direction;
            this.marker = marker;
            this.fault = fault;
            this.garbage = garbage;
        }

        public boolean fired() {
            return fired.get();
        }
    }

    private final ServerSocket listener;
    private final int targetPort;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final List<Rule> rules = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private final Thread acceptor;
    private volatile boolean closed;

    private FaultProxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.listener = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::acceptLoop, "fault-proxy-" + listener.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** A proxy on a free port of 127.0.0.1 in front of 127.0.0.1:{@code targetPort}. */
    public static FaultProxy start(int targetPort) {
        try {
            return new FaultProxy(targetPort);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int port() {
        return listener.getLocalPort();
    }

    /** Connections accepted since the start. */
    public int accepted() {
        return accepted.get();
    }

    /** Connections open now (both sides connected, not yet closed). */
    public int open() {
        return links.size();
    }

    /** The first connection whose bytes in {@code direction} contain {@code marker} gets {@code fault}. */
    public Rule when(Direction direction, String marker, Fault fault) {
        if (fault == Fault.GARBAGE) {
            throw new IllegalArgumentException("GARBAGE needs the bytes: use whenGarbage");
        }
        return add(new Rule(direction, marker.getBytes(StandardCharsets.UTF_8), fault, null));
    }

    /** The first connection whose bytes in {@code direction} contain {@code marker} gets {@code garbage} instead. */
    public Rule whenGarbage(Direction direction, String marker, byte[] garbage) {
        return add(new Rule(direction, marker.getBytes(StandardCharsets.UTF_8), Fault.GARBAGE, garbage.clone()));
    }

    private Rule add(Rule rule) {
        rules.add(rule);
        return rule;
    }

    /** Resets every open connection now: both peers see a TCP RST. */
    public void resetAll() {
        for (Link link : links) {
            link.reset();
        }
    }

    /** Lets every stalled direction flow again, the held bytes first. */
    public void resumeAll() {
        for (Link link : links) {
            link.resume();
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            listener.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Link link : links) {
            link.close();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return;
            }
            accepted.incrementAndGet();
            Socket server = new Socket();
            try {
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort), 10_000);
            } catch (IOException e) {
                closeQuietly(server);
                closeQuietly(client);
                continue;
            }
            Link link = new Link(client, server);
            links.add(link);
            link.start();
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    /** One proxied connection: a pump thread per direction. */
    private final class Link {
        private final Socket client;
        private final Socket server;
        private final Object lock = new Object();
        private final boolean[] stalled = new boolean[2];
        private boolean done;

        Link(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }

        void start() {
            String name = "fault-proxy-" + client.getPort();
            Thread up = new Thread(() -> pump(client, server, Direction.TO_SERVER), name + "-up");
            Thread down = new Thread(() -> pump(server, client, Direction.TO_CLIENT), name + "-down");
            up.setDaemon(true);
            down.setDaemon(true);
            up.start();
            down.start();
        }

        private void pump(Socket from, Socket to, Direction direction) {
            byte[] buf = new byte[16384];
            // The end of the previous read, so that a marker split between two reads is still seen.
            byte[] window = new byte[0];
            boolean dropping = false;
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                while (true) {
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    byte[] seen = concat(window, buf, n);
                    Rule rule = match(direction, seen);
                    window = Arrays.copyOfRange(seen, Math.max(0, seen.length - 64), seen.length);
                    if (rule != null) {
                        switch (rule.fault) {
                            case RESET -> {
                                reset();
                                return;
                            }
                            case STALL -> {
                                stall(direction);
                            }
                            case DROP -> dropping = true;
                            case GARBAGE -> {
                                out.write(rule.garbage);
                                out.flush();
                                continue;
                            }
                        }
                    }
                    if (dropping) {
                        continue;
                    }
                    if (!awaitFlowing(direction)) {
                        return;
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // A reset or close of either socket ends this direction.
            }
            close();
        }

        private Rule match(Direction direction, byte[] seen) {
            for (Rule rule : rules) {
                if (rule.direction == direction && !rule.fired.get() && indexOf(seen, rule.marker) >= 0
                        && rule.fired.compareAndSet(false, true)) {
                    return rule;
                }
            }
            return null;
        }

        private void stall(Direction direction) {
            synchronized (lock) {
                stalled[direction.ordinal()] = true;
            }
        }

        void resume() {
            synchronized (lock) {
                stalled[0] = false;
                stalled[1] = false;
                lock.notifyAll();
            }
        }

        /** Waits while the direction is stalled; false if the link closed meanwhile. */
        private boolean awaitFlowing(Direction direction) throws IOException {
            synchronized (lock) {
                while (stalled[direction.ordinal()] && !done) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted", e);
                    }
                }
                return !done;
            }
        }

        void reset() {
            try {
                client.setSoLinger(true, 0);
                server.setSoLinger(true, 0);
            } catch (SocketException ignored) {
                // already closed: nothing left to reset
            }
            close();
        }

        void close() {
            synchronized (lock) {
                done = true;
                lock.notifyAll();
            }
            closeQuietly(client);
            closeQuietly(server);
            links.remove(this);
        }
    }

    private static byte[] concat(byte[] head, byte[] buf, int n) {
        byte[] all = Arrays.copyOf(head, head.length + n);
        System.arraycopy(buf, 0, all, head.length, n);
        return all;
    }

    static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
