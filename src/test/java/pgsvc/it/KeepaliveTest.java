package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * tcp_keepidle, tcp_keepintvl and tcp_keepcnt end connections whose peer is gone without a word, as when its machine
 * loses power: no FIN, no RST, so nothing but a keepalive probe (answered by a reset once the peer's kernel has
 * forgotten the connection) can tell. The dead peer is simulated on loopback with TCP_REPAIR: a socket closed in
 * repair mode vanishes from its kernel silently, leaving the other side ESTABLISHED. client_idle_timeout,
 * server_idle_timeout and server_lifetime are off, so keepalive is the only thing that can end those connections.
 *
 * <p>The console is read over one connection opened before the vanishing: a new connection to pgsvc's port could be
 * given the vanished client's port by this host's kernel, and its SYN would reset pgsvc's half-open socket as surely
 * as a probe.
 */
@ExtendWith(PgClusterExtension.class)
class KeepaliveTest {
    private static final String USER = "pgsvc_keepalive";
    private static final String PASSWORD = "keepalivepass";
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    /** setsockopt(IPPROTO_TCP, TCP_REPAIR): needs CAP_NET_ADMIN. */
    private static final IntegerUnixChannelOption TCP_REPAIR = new IntegerUnixChannelOption("TCP_REPAIR", 6, 19);

    private static EventLoopGroup loop;

    @BeforeAll
    static void setUp() throws Exception {
        assertTrue(Epoll.isAvailable(), "these tests need Netty's epoll transport: " + Epoll.unavailabilityCause());
        loop = new EpollEventLoopGroup(1);
        TestRoles.create(USER, PASSWORD);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS it_keepalive");
            st.execute("CREATE TABLE it_keepalive (id int primary key, v text)");
            st.execute("INSERT INTO it_keepalive VALUES (1, 'one')");
            st.execute("GRANT ALL ON it_keepalive TO " + USER);
        }
    }

    @AfterAll
    static void tearDown() {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** pgsvc with one-second keepalive probes and nothing else that ends idle connections. */
    private static PoolerFixture pooler(String databases) {
        Await.until(DEADLINE, "no backend of " + USER + " is left from an earlier test",
                () -> TestRoles.backends(USER) == 0);
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "2");
        settings.put("admin_users", "postgres");
        settings.put("tcp_keepalive", "1");
        settings.put("tcp_keepidle", "1");
        settings.put("tcp_keepintvl", "1");
        settings.put("tcp_keepcnt", "1");
        settings.put("client_idle_timeout", "0");
        settings.put("server_idle_timeout", "0");
        settings.put("server_lifetime", "0");
        return PoolerFixture.builder(settings).databases(databases)
                .userlist(TestRoles.userlistWith(USER, PASSWORD)).start();
    }

    /**
     * The simulation itself, without pgsvc: after a repair-mode close the other end is still ESTABLISHED (it got
     * neither FIN nor RST), and only when it sends something does the answering reset end it. Without this, the
     * tests below could pass because the vanishing socket said goodbye.
     */
    @Test
    void aSocketClosedInRepairModeLeavesItsPeerEstablished() throws Exception {
        BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        Channel listener = new ServerBootstrap().group(loop).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.add(ctx.channel());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            int port = ((InetSocketAddress) listener.localAddress()).getPort();
            Channel peer = new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
            Channel survivor = accepted.poll(DEADLINE.toSeconds(), TimeUnit.SECONDS);
            assertTrue(survivor != null, "the connection was accepted");
            int peerPort = ((InetSocketAddress) peer.localAddress()).getPort();

            vanish(peer);

            assertEquals("ESTABLISHED", tcpState(port, peerPort),
                    "the survivor's socket after its peer vanished in repair mode");
            assertTrue(survivor.isActive());
            survivor.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1}));
            Await.until(DEADLINE, "the reset to the survivor's write closes it", () -> !survivor.isActive());
        } finally {
            listener.close().sync();
        }
    }

    @Test
    void aClientThatVanishedIsClosedByKeepalive() throws Exception {
        try (PoolerFixture p = pooler("");
             Connection console = ConsoleQueries.console(p);
             EpollClient live = EpollClient.connect(p.port(), "pgsvc", USER, PASSWORD);
             EpollClient dead = EpollClient.connect(p.port(), "pgsvc", USER, PASSWORD)) {
            assertEquals(List.of("1"), dead.query("SELECT 1").values());
            assertEquals(List.of("2"), live.query("SELECT 2").values());
            assertEquals(2, clientPorts(console).size(), "both clients are in SHOW CLIENTS");

            dead.vanish();

            Await.until(DEADLINE, "keepalive ends the vanished client", () -> clientPorts(console).size() == 1);
            assertEquals(List.of(live.port()), clientPorts(console), "the live client is still there");
            assertEquals(0, poolColumn(console, "pgsvc", "sv_active"), "no server is held");
            // The live client answers the probes and stays: keepalive ends only connections whose peer is gone.
            assertEquals(List.of("3"), live.query("SELECT 3").values());
        }
    }

    @Test
    void aClientThatVanishedInsideATransactionGivesUpItsRowLock() throws Exception {
        try (PoolerFixture p = pooler("");
             Connection console = ConsoleQueries.console(p);
             EpollClient holder = EpollClient.connect(p.port(), "pgsvc", USER, PASSWORD)) {
            assertEquals('T', holder.query("BEGIN").txStatus());
            Result locked = holder.query("SELECT v FROM it_keepalive WHERE id = 1 FOR UPDATE");
            assertEquals(List.of("one"), locked.values());
            assertEquals('T', locked.txStatus());
            assertEquals(1, poolColumn(console, "pgsvc", "sv_active"), "the transaction holds its server");
            assertEquals(1, rowLockHolders(), "the row lock is held");

            holder.vanish();

            Await.until(DEADLINE, "keepalive ends the vanished client", () -> clientPorts(console).isEmpty());
            Await.until(DEADLINE, "the server of its transaction is released",
                    () -> poolColumn(console, "pgsvc", "sv_active") == 0);
            Await.until(DEADLINE, "no backend holds the row lock", () -> rowLockHolders() == 0);
            try (Connection c = p.connect(USER, PASSWORD); Statement st = c.createStatement()) {
                c.setAutoCommit(false);
                // A lock left behind fails this with 55P03 rather than hanging the test.
                st.execute("SET LOCAL lock_timeout = '10s'");
                try (ResultSet rs = st.executeQuery("SELECT v FROM it_keepalive WHERE id = 1 FOR UPDATE")) {
                    assertTrue(rs.next());
                    assertEquals("one", rs.getString(1));
                }
                c.commit();
            }
            assertEquals(0, TestRoles.backends(USER, "idle in transaction"));
        }
    }

    /**
     * The other direction: PostgreSQL's host vanishes while its connection sits idle in the pool. A relay in this
     * JVM stands in for that host; closing its pgsvc-facing socket in repair mode leaves pgsvc's server connection
     * open to nobody, and keepalive takes it out of the pool instead of it waiting there for the next client.
     */
    @Test
    void aServerThatVanishedIsDroppedFromThePool() throws Exception {
        try (Relay relay = Relay.start(PgCluster.shared().primary().port());
             PoolerFixture p = pooler("relayed = host=127.0.0.1 port=" + relay.port() + " dbname=pgsvc\n");
             Connection console = ConsoleQueries.console(p)) {
            try (EpollClient c = EpollClient.connect(p.port(), "relayed", USER, PASSWORD)) {
                assertEquals(List.of("1"), c.query("SELECT 1").values());
            }
            Await.until(DEADLINE, "the server is idle in the pool",
                    () -> poolColumn(console, "relayed", "sv_idle") == 1);
            assertEquals(1, relay.connections());

            relay.vanishAll();

            Await.until(DEADLINE, "keepalive drops the vanished server", () -> serverCount(console, "relayed") == 0);
            // A new client gets a new server through the relay.
            try (EpollClient c = EpollClient.connect(p.port(), "relayed", USER, PASSWORD)) {
                assertEquals(List.of("4"), c.query("SELECT 4").values());
            }
            assertEquals(1, relay.connections());
        }
    }

    /** The client ports in SHOW CLIENTS for this test's user. */
    private static List<Integer> clientPorts(Connection console) throws SQLException {
        List<Integer> clients = new ArrayList<>();
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
            while (rs.next()) {
                if (rs.getString("user").equals(USER)) {
                    clients.add(rs.getInt("port"));
                }
            }
        }
        return clients;
    }

    /** A column of SHOW POOLS for this test's user in {@code database}; -1 if the pool is not listed. */
    private static int poolColumn(Connection console, String database, String column) throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database) && rs.getString("user").equals(USER)) {
                    return rs.getInt(column);
                }
            }
            return -1;
        }
    }

    /** Rows of SHOW SERVERS for one database. */
    private static int serverCount(Connection console, String database) throws SQLException {
        int n = 0;
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW SERVERS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database)) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Backends of this test's user holding a row-level lock on it_keepalive (pg_locks, as an operator would look). */
    private static int rowLockHolders() throws SQLException {
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                     "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                             + "WHERE a.usename = '" + USER + "' AND l.relation = 'it_keepalive'::regclass "
                             + "AND l.mode = 'RowShareLock' AND l.granted")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * Puts the socket in repair mode and closes it: the kernel drops it without sending anything, as a host that lost
     * power would. Refused without CAP_NET_ADMIN, which these tests cannot do without. First it waits until the peer
     * has no unacknowledged bytes: otherwise the peer's retransmission, not a keepalive probe, would meet the reset.
     */
    private static void vanish(Channel channel) throws InterruptedException {
        int local = ((InetSocketAddress) channel.localAddress()).getPort();
        int remote = ((InetSocketAddress) channel.remoteAddress()).getPort();
        Await.until(DEADLINE, "the peer's sent bytes are all acknowledged", () -> {
            String[] peer = socket(remote, local);
            return peer != null && peer[4].startsWith("00000000:");
        });
        try {
            channel.config().setOption(TCP_REPAIR, 1);
        } catch (ChannelException e) {
            throw new IllegalStateException("setsockopt(TCP_REPAIR) was refused (" + e.getCause()
                    + "): KeepaliveTest simulates a vanished peer with TCP_REPAIR, which needs root or "
                    + "CAP_NET_ADMIN; run it as root (CI does)", e);
        }
        channel.close().sync();
    }

    /** The kernel's state of the loopback connection from {@code localPort} to {@code remotePort}. */
    private static String tcpState(int localPort, int remotePort) throws IOException {
        String[] f = socket(localPort, remotePort);
        if (f == null) {
            return "gone";
        }
        return switch (f[3]) {
            case "01" -> "ESTABLISHED";
            case "08" -> "CLOSE_WAIT";
            default -> "state " + f[3];
        };
    }

    /**
     * The /proc/net/tcp (or tcp6: Netty's epoll sockets are IPv6 sockets that carry IPv4 too) fields of the loopback
     * connection from {@code localPort} to {@code remotePort}: [3] is the state, [4] "tx_queue:rx_queue" in hex, where
     * tx_queue counts the bytes sent and not yet acknowledged. Null if there is no such socket.
     */
    private static String[] socket(int localPort, int remotePort) throws IOException {
        String local = String.format(":%04X", localPort);
        String remote = String.format(":%04X", remotePort);
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : Files.readAllLines(Path.of(table))) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 4 && f[1].endsWith(local) && f[2].endsWith(remote)) {
                    return f;
                }
            }
        }
        return null;
    }

    /** What one simple Query brought: the first column of each DataRow and the ReadyForQuery status. */
    record Result(List<String> values, char txStatus) {
    }

    /**
     * A PostgreSQL client on a Netty epoll channel, read from the test's thread through a queue: unlike a
     * java.net.Socket, its socket can be put into TCP_REPAIR. Logs in answering MD5 and cleartext password requests.
     */
    private static final class EpollClient implements AutoCloseable {
        private final Channel channel;
        private final BlockingQueue<WireClient.Message> inbox;

        private EpollClient(Channel channel, BlockingQueue<WireClient.Message> inbox) {
            this.channel = channel;
            this.inbox = inbox;
        }

        static EpollClient connect(int port, String database, String user, String password) throws Exception {
            BlockingQueue<WireClient.Message> inbox = new LinkedBlockingQueue<>();
            Channel ch = new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(1 << 24, 1, 4, -4, 0),
                                    new SimpleChannelInboundHandler<ByteBuf>() {
                                        @Override
                                        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                            byte[] body = new byte[frame.readableBytes() - 5];
                                            frame.getBytes(5, body);
                                            inbox.add(new WireClient.Message((char) frame.getByte(0), body));
                                        }
                                    });
                        }
                    })
                    .connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
            EpollClient c = new EpollClient(ch, inbox);
            try {
                c.login(database, user, password);
                return c;
            } catch (Exception e) {
                ch.close();
                throw e;
            }
        }

        private void login(String database, String user, String password) throws Exception {
            Map<String, String> params = new LinkedHashMap<>();
            params.put("user", user);
            params.put("database", database);
            ByteBuf startup = Unpooled.buffer();
            startup.writeInt(0).writeInt(WireClient.PROTOCOL_3);
            for (Map.Entry<String, String> e : params.entrySet()) {
                cstring(startup, e.getKey());
                cstring(startup, e.getValue());
            }
            startup.writeByte(0);
            startup.setInt(0, startup.readableBytes());
            channel.writeAndFlush(startup).sync();
            while (true) {
                WireClient.Message m = next();
                if (m.type() == 'R' && m.authCode() == 5) {
                    byte[] salt = java.util.Arrays.copyOfRange(m.body(), 4, 8);
                    String inner = WireClient.md5Hex((password + user).getBytes(StandardCharsets.UTF_8));
                    byte[] outer = new byte[inner.length() + 4];
                    System.arraycopy(inner.getBytes(StandardCharsets.US_ASCII), 0, outer, 0, inner.length());
                    System.arraycopy(salt, 0, outer, inner.length(), 4);
                    send('p', "md5" + WireClient.md5Hex(outer));
                } else if (m.type() == 'R' && m.authCode() == 3) {
                    send('p', password);
                } else if (m.type() == 'R' && m.authCode() != 0) {
                    throw new IOException("unsupported authentication request " + m.authCode());
                } else if (m.type() == 'E') {
                    throw new IOException("login failed: " + m.fields());
                } else if (m.type() == 'Z') {
                    return;
                }
            }
        }

        /** Sends a simple Query and reads its result; an ErrorResponse fails it. */
        Result query(String sql) throws Exception {
            send('Q', sql);
            List<String> values = new ArrayList<>();
            while (true) {
                WireClient.Message m = next();
                switch (m.type()) {
                    case 'D' -> {
                        ByteBuf row = Unpooled.wrappedBuffer(m.body());
                        row.skipBytes(2);
                        int len = row.readInt();
                        values.add(len < 0 ? null : row.toString(row.readerIndex(), len, StandardCharsets.UTF_8));
                    }
                    case 'E' -> throw new IOException(sql + " failed: " + m.fields());
                    case 'Z' -> {
                        return new Result(values, (char) m.body()[0]);
                    }
                    default -> {
                        // RowDescription, CommandComplete, notices: nothing to check here
                    }
                }
            }
        }

        void vanish() throws InterruptedException {
            KeepaliveTest.vanish(channel);
        }

        int port() {
            return ((InetSocketAddress) channel.localAddress()).getPort();
        }

        private WireClient.Message next() throws Exception {
            WireClient.Message m = inbox.poll(WireClient.TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
            if (m == null) {
                throw new IOException("no message from pgsvc within " + WireClient.TIMEOUT_MILLIS + " ms"
                        + (channel.isActive() ? "" : "; the connection is closed"));
            }
            return m;
        }

        private void send(char type, String text) throws InterruptedException {
            ByteBuf b = Unpooled.buffer();
            b.writeByte(type).writeInt(0);
            cstring(b, text);
            b.setInt(1, b.readableBytes() - 1);
            channel.writeAndFlush(b).sync();
        }

        private static void cstring(ByteBuf b, String s) {
            b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
        }

        /** Terminate and close, unless it has vanished already. */
        @Override
        public void close() throws InterruptedException {
            if (channel.isActive()) {
                ByteBuf terminate = Unpooled.buffer(5).writeByte('X').writeInt(4);
                channel.writeAndFlush(terminate).addListener(ChannelFutureListener.CLOSE).await();
            }
            channel.close().await();
        }
    }

    /**
     * A TCP relay to PostgreSQL on this JVM's epoll loop, standing in for the database host: bytes pass both ways
     * unchanged, and {@link #vanishAll()} makes the host disappear as if it lost power (the pgsvc-facing sockets
     * closed in repair mode; the PostgreSQL-facing ones closed normally, so the backends end).
     */
    private static final class Relay implements AutoCloseable {
        private final Channel listener;
        private final Set<Channel> fronts = ConcurrentHashMap.newKeySet();

        private Relay(int target) throws InterruptedException {
            this.listener = new ServerBootstrap().group(loop).channel(EpollServerSocketChannel.class)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel front) {
                            fronts.add(front);
                            front.closeFuture().addListener(f -> fronts.remove(front));
                            Channel back = new Bootstrap().group(front.eventLoop())
                                    .channel(EpollSocketChannel.class)
                                    .handler(new Pass(front))
                                    .connect(new InetSocketAddress("127.0.0.1", target))
                                    .addListener((ChannelFutureListener) f -> {
                                        if (f.isSuccess()) {
                                            front.config().setAutoRead(true);
                                        } else {
                                            front.close();
                                        }
                                    }).channel();
                            front.pipeline().addLast(new Pass(back));
                        }
                    })
                    .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        }

        static Relay start(int target) throws InterruptedException {
            return new Relay(target);
        }

        int port() {
            return ((InetSocketAddress) listener.localAddress()).getPort();
        }

        int connections() {
            return fronts.size();
        }

        void vanishAll() throws InterruptedException {
            for (Channel front : List.copyOf(fronts)) {
                vanish(front);
            }
        }

        @Override
        public void close() throws InterruptedException {
            listener.close().sync();
            for (Channel front : List.copyOf(fronts)) {
                front.close().sync();
            }
        }

        /** Writes what one side reads to the other; when one side closes, so does the other. */
        private static final class Pass extends ChannelInboundHandlerAdapter {
            private final Channel other;

            Pass(Channel other) {
                this.other = other;
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                other.writeAndFlush(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                other.close();
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        }
    }
}
