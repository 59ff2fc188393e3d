package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * Many clients at once, as a busy application fleet restarting would bring them: every one logs in and is served,
 * none gets an error, the console counts them all, and the counts return to zero when they leave.
 */
@ExtendWith(PgClusterExtension.class)
class ManyClientsTest {
    private static final int CLIENTS = 10_000;
    private static final String USER = "pgsvc_md5";
    private static final String PASSWORD = "md5pass";
    private static final Duration DEADLINE = Duration.ofSeconds(120);

    /**
     * 10,000 clients connect at once, each doing a full md5 login and a SELECT 1 in transaction pooling over a pool
     * of five servers. pgsvc runs as a process of its own, so that its 10,000 sockets and this JVM's 10,000 do not
     * share one file descriptor limit. The clients are Netty epoll channels on two event loops, so that opening
     * them all takes no thread per client.
     */
    @Test
    void tenThousandClientsLogInAtOnceAndLeave() throws Exception {
        assertTrue(Epoll.isAvailable(), "this test needs Netty's epoll transport: " + Epoll.unavailabilityCause());
        String settings = "max_client_conn = " + (CLIENTS + 100) + "\n"
                + "default_pool_size = 5\n"
                + "admin_users = postgres\n"
                // The kernel caps it at net.core.somaxconn; the default 128 would make most clients retry their SYN.
                + "listen_backlog = 4096\n";
        EventLoopGroup loops = new EpollEventLoopGroup(2);
        PgsvcProcess pgsvc = null;
        try {
            pgsvc = PgsvcProcess.start(settings);
            crowdComesAndGoes(pgsvc.port(), loops);
        } finally {
            // The clients' loops first, closing whatever is still open: pgsvc exits on SIGTERM only once its last
            // client is gone, and should not wait for 10,000 of them when an assertion failed.
            loops.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
            if (pgsvc != null) {
                pgsvc.close();
            }
        }
    }

    /** Connects all the clients at once, checks what they and the console saw, and lets them all go. */
    private static void crowdComesAndGoes(int port, EventLoopGroup loops) throws Exception {
        Crowd crowd = new Crowd();
        Bootstrap b = new Bootstrap().group(loops).channel(EpollSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) DEADLINE.toMillis())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        Client client = new Client(crowd);
                        crowd.clients.add(client);
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(1 << 20, 1, 4, -4, 0), client);
                    }
                });
        InetSocketAddress address = new InetSocketAddress("127.0.0.1", port);
        for (int i = 0; i < CLIENTS; i++) {
            b.connect(address).addListener(f -> {
                if (!f.isSuccess()) {
                    crowd.fail("connect: " + f.cause());
                }
            });
        }
        Await.until(DEADLINE, "every client has logged in and run SELECT 1 (or one failed)",
                () -> crowd.failed.get() > 0 || crowd.answered.get() == CLIENTS);
        assertNull(crowd.firstFailure.get(), () -> crowd.failed.get() + " clients failed; the first");
        assertEquals(CLIENTS, crowd.loggedIn.get(), "clients that got ReadyForQuery after their login");
        assertEquals(CLIENTS, crowd.answered.get(), "clients whose SELECT 1 returned 1");

        try (Connection console = console(port)) {
            // The console's own connection is a client too, in database pgbouncer.
            assertEquals(CLIENTS + 1, list(console, "used_clients"), "SHOW LISTS used_clients");
            assertEquals(0, list(console, "login_clients"), "SHOW LISTS login_clients");
            assertEquals(CLIENTS, clientsIn(console, "pgsvc"), "SHOW CLIENTS rows in database pgsvc");
            assertEquals(CLIENTS, databaseColumn(console, "current_client_connections"),
                    "SHOW DATABASES current_client_connections");
            Map<String, Integer> pool = pool(console);
            // Idle between transactions, each is still an active client of the pool, as PgBouncer counts it.
            assertEquals(CLIENTS, pool.get("cl_active"), "SHOW POOLS cl_active " + pool);
            assertEquals(0, pool.get("cl_waiting"), "SHOW POOLS cl_waiting " + pool);
            assertTrue(pool.get("sv_active") + pool.get("sv_idle") + pool.get("sv_used") <= 5,
                    "at most the pool size of servers " + pool);

            for (Client c : crowd.clients) {
                c.terminate();
            }
            Await.until(DEADLINE, "every client's connection is closed", () -> crowd.closed.get() == CLIENTS);
            assertNull(crowd.firstFailure.get(), () -> crowd.failed.get() + " clients failed; the first");
            Await.until(DEADLINE, "SHOW LISTS counts only the console",
                    () -> list(console, "used_clients") == 1);
            assertEquals(0, clientsIn(console, "pgsvc"), "SHOW CLIENTS rows in database pgsvc");
            assertEquals(0, databaseColumn(console, "current_client_connections"),
                    "SHOW DATABASES current_client_connections");
            Await.until(DEADLINE, "SHOW POOLS counts no client of the pool", () -> {
                Map<String, Integer> after = pool(console);
                return after.get("cl_active") == 0 && after.get("cl_waiting") == 0;
            });
        }
    }

    /**
     * pgbench with 1000 clients through pgsvc (in this JVM) and a pool of 20: each client runs five select-only
     * transactions; none fails and all 5000 are processed.
     */
    @Test
    void pgbenchWithAThousandClients() throws Exception {
        String db = "pgsvc_bench";
        PgCluster.shared().pgbenchInit(db, 1);
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "20");
        settings.put("max_client_conn", "1100");
        settings.put("listen_backlog", "1024");
        settings.put("admin_users", "postgres");
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            ProcResult r = Tools.pgbench(DEADLINE, p.port(), USER, PASSWORD, db,
                    "-n", "-S", "-c", "1000", "-j", "2", "-t", "5");
            r.orThrow();
            assertEquals(0, r.failedTransactions(), r.describe());
            assertEquals(5000, r.processedTransactions(), r.describe());
            try (Connection console = console(p.port())) {
                Await.until(DEADLINE, "pgbench's clients have left pgsvc", () -> list(console, "used_clients") == 1);
            }
        }
    }

    private static Connection console(int port) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", "postgres");
        props.setProperty("password", "postgres");
        props.setProperty("preferQueryMode", "simple");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/pgbouncer", props);
    }

    /** One row of SHOW LISTS. */
    private static int list(Connection console, String name) throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW LISTS")) {
            while (rs.next()) {
                if (rs.getString("list").equals(name)) {
                    return rs.getInt("items");
                }
            }
        }
        throw new IllegalStateException("SHOW LISTS has no " + name);
    }

    /** Rows of SHOW CLIENTS in {@code database}. */
    private static int clientsIn(Connection console, String database) throws SQLException {
        int n = 0;
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
            while (rs.next()) {
                if (rs.getString("database").equals(database)) {
                    n++;
                }
            }
        }
        return n;
    }

    /** A column of SHOW DATABASES for database pgsvc. */
    private static int databaseColumn(Connection console, String column) throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW DATABASES")) {
            while (rs.next()) {
                if (rs.getString("name").equals("pgsvc")) {
                    return rs.getInt(column);
                }
            }
        }
        throw new IllegalStateException("SHOW DATABASES has no pgsvc");
    }

    /** SHOW POOLS's counts for pgsvc/pgsvc_md5. */
    private static Map<String, Integer> pool(Connection console) throws SQLException {
        try (Statement st = console.createStatement(); ResultSet rs = st.executeQuery("SHOW POOLS")) {
            while (rs.next()) {
                if (rs.getString("database").equals("pgsvc") && rs.getString("user").equals(USER)) {
                    Map<String, Integer> counts = new HashMap<>();
                    for (String column : new String[] {"cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used"}) {
                        counts.put(column, rs.getInt(column));
                    }
                    return counts;
                }
            }
        }
        throw new IllegalStateException("SHOW POOLS has no pgsvc/" + USER);
    }

    /** What the clients have done so far, counted from their event loops. */
    private static final class Crowd {
        final Queue<Client> clients = new ConcurrentLinkedQueue<>();
        final AtomicInteger loggedIn = new AtomicInteger();
        final AtomicInteger answered = new AtomicInteger();
        final AtomicInteger closed = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final AtomicReference<String> firstFailure = new AtomicReference<>();

        void fail(String why) {
            failed.incrementAndGet();
            firstFailure.compareAndSet(null, why);
        }
    }

    /** Where a client is: logging in, waiting for its SELECT 1, idle, or leaving on the test's request. */
    private enum Phase { LOGIN, SELECT, IDLE, LEAVING }

    /**
     * One client's whole life on its event loop: StartupMessage, the md5 answer, ReadyForQuery, SELECT 1 and its
     * row, then idle until {@link #terminate()}. Anything else (an ErrorResponse, an unexpected close) is a failure.
     */
    private static final class Client extends SimpleChannelInboundHandler<ByteBuf> {
        private static final byte[] STARTUP = startup();
        private static final byte[] SELECT_1 = message('Q', "SELECT 1");
        private static final byte[] TERMINATE = {'X', 0, 0, 0, 4};
        /** md5(password || user) in hex: the part of the md5 answer that is the same for every client. */
        private static final String INNER = WireClient.md5Hex((PASSWORD + USER).getBytes(StandardCharsets.UTF_8));

        private final Crowd crowd;
        private Channel channel;
        private Phase phase = Phase.LOGIN;
        private boolean sawOne;

        Client(Crowd crowd) {
            this.crowd = crowd;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            channel = ctx.channel();
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(STARTUP));
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
            switch (frame.getByte(0)) {
                case 'R' -> {
                    int code = frame.getInt(5);
                    if (code == 5) {
                        byte[] outer = new byte[INNER.length() + 4];
                        System.arraycopy(INNER.getBytes(StandardCharsets.US_ASCII), 0, outer, 0, INNER.length());
                        frame.getBytes(9, outer, INNER.length(), 4);
                        ctx.writeAndFlush(Unpooled.wrappedBuffer(message('p', "md5" + WireClient.md5Hex(outer))));
                    } else if (code != 0) {
                        failAndClose(ctx, "authentication request " + code + ", expected md5");
                    }
                }
                case 'E' -> failAndClose(ctx, "ErrorResponse in phase " + phase + ": "
                        + frame.toString(5, frame.readableBytes() - 5, StandardCharsets.UTF_8).replace('\0', ' '));
                case 'D' -> sawOne = frame.getShort(5) == 1 && frame.getInt(7) == 1 && frame.getByte(11) == '1';
                case 'Z' -> {
                    if (phase == Phase.LOGIN) {
                        phase = Phase.SELECT;
                        crowd.loggedIn.incrementAndGet();
                        ctx.writeAndFlush(Unpooled.wrappedBuffer(SELECT_1));
                    } else if (phase == Phase.SELECT) {
                        phase = Phase.IDLE;
                        if (sawOne) {
                            crowd.answered.incrementAndGet();
                        } else {
                            failAndClose(ctx, "SELECT 1 returned no row with 1");
                        }
                    }
                }
                default -> {
                    // ParameterStatus, BackendKeyData, RowDescription, CommandComplete: nothing to check
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failAndClose(ctx, "in phase " + phase + ": " + cause);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            crowd.closed.incrementAndGet();
            if (phase != Phase.LEAVING) {
                crowd.fail("connection closed in phase " + phase);
                phase = Phase.LEAVING;
            }
        }

        /** Says Terminate; pgsvc closes the connection (so the TIME_WAIT is its, not this host's ports'). */
        void terminate() {
            channel.eventLoop().execute(() -> {
                phase = Phase.LEAVING;
                channel.writeAndFlush(Unpooled.wrappedBuffer(TERMINATE));
            });
        }

        private void failAndClose(ChannelHandlerContext ctx, String why) {
            if (phase != Phase.LEAVING) {
                phase = Phase.LEAVING;
                crowd.fail(why);
            }
            ctx.close();
        }

        private static byte[] startup() {
            byte[] params = ("user\0" + USER + "\0database\0pgsvc\0application_name\0many-clients\0\0")
                    .getBytes(StandardCharsets.UTF_8);
            return ByteBuffer.allocate(8 + params.length).putInt(8 + params.length).putInt(WireClient.PROTOCOL_3)
                    .put(params).array();
        }

        private static byte[] message(char type, String text) {
            byte[] body = (text + "\0").getBytes(StandardCharsets.UTF_8);
            return ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body).array();
        }
    }
}
