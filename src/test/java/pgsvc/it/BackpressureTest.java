package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocatorMetric;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * A result far larger than pgsvc may buffer goes to a client that stops reading: pgsvc must stop reading from the
 * server too, so that PostgreSQL blocks in ClientWrite and produces no more rows, and pgsvc's memory stays bounded.
 */
@ExtendWith(PgClusterExtension.class)
class BackpressureTest {
    private static final String USER = "pgsvc_stream";
    private static final String PASSWORD = "streampass";
    private static final int ROWS = 300_000;
    /**
     * About 300 MB of DataRows, several times anything pgsvc may hold for one client. nextval() counts the rows
     * PostgreSQL has produced so far, where another session can see it.
     */
    private static final String BIG_QUERY =
            "SELECT nextval('it_stream_seq'), repeat('x', 1000) FROM generate_series(1, " + ROWS + ")";
    private static final long MEMORY_BOUND = 64L << 20;
    /**
     * Consecutive polls that must find the backend in ClientWrite with its row count unchanged: a server that is
     * merely faster than pgsvc waits in ClientWrite too, but only for moments, and makes progress in between.
     */
    private static final int STALLED_POLLS = 20;

    @BeforeAll
    static void createObjects() throws Exception {
        TestRoles.create(USER, PASSWORD);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP SEQUENCE IF EXISTS it_stream_seq");
            st.execute("CREATE SEQUENCE it_stream_seq");
            st.execute("GRANT ALL ON SEQUENCE it_stream_seq TO " + USER + ", " + PgCluster.MD5_USER);
        }
    }

    /** A pgsvc of the test's own: which event loop a client and a server land on depends on what came before. */
    private static PoolerFixture pooler() {
        return PoolerFixture.builder(PoolerFixture.defaults()).userlist(TestRoles.userlistWith(USER, PASSWORD)).start();
    }

    @Test
    void aStalledClientStallsItsOwnServer() throws Exception {
        try (PoolerFixture pooler = pooler();
             WireClient slow = WireClient.connect(pooler.port(), USER, PASSWORD, 32 * 1024)) {
            // The first client of the pool: its server is opened on its own event loop.
            streamToAStalledClient(pooler, slow);
        }
    }

    @Test
    void aStalledClientStallsAServerOfAnotherEventLoop() throws Exception {
        try (PoolerFixture pooler = pooler();
             WireClient first = WireClient.connect(pooler.port(), USER, PASSWORD);
             WireClient slow = WireClient.connect(pooler.port(), USER, PASSWORD, 32 * 1024)) {
            // Accepted clients go round-robin over the event loops, so with two or more loops `slow` is on another
            // loop than `first`, and is given the idle server `first` opened on its loop.
            assertEquals(List.of("1"), first.query("SELECT 1").orThrow().values());
            streamToAStalledClient(pooler, slow);
        }
    }

    @Test
    void aStalledClientOfADirectServiceStallsItsMember() throws Exception {
        // dest=postgres: a byte proxy, with PostgreSQL itself authenticating (md5 for this role in the harness).
        int servicePort = PoolerFixture.freePort();
        String sections = "\n[hosts]\nm1 = host=127.0.0.1 port=" + PgCluster.shared().primary().port() + "\n"
                + "\n[services]\ndirect = port=" + servicePort + " role=primary dest=postgres\n"
                + RouterFixture.FAST_CHECKS;
        try (PoolerFixture pooler = PoolerFixture.builder(PoolerFixture.defaults()).sections(sections).start()) {
            Await.until(Duration.ofSeconds(20), "the direct service is up", () -> {
                try (WireClient probe = WireClient.connect(servicePort, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD)) {
                    return true;
                } catch (java.io.IOException e) {
                    return false;
                }
            });
            try (WireClient slow = WireClient.connect(servicePort, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    32 * 1024)) {
                streamToAStalledClient(slow, PgCluster.MD5_USER, () -> {
                    try (WireClient other = WireClient.connect(servicePort, PgCluster.MD5_USER,
                            PgCluster.MD5_PASSWORD)) {
                        assertEquals(List.of("1"), other.query("SELECT 1").orThrow().values());
                    }
                });
            }
        }
    }

    private static void streamToAStalledClient(PoolerFixture pooler, WireClient slow) throws Exception {
        // Another client of the same pool is not held up by the stalled one.
        streamToAStalledClient(slow, USER, () -> {
            try (Connection c = pooler.connect(USER, PASSWORD); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 1")) {
                assertTrue(rs.next());
                assertEquals(1, rs.getInt(1));
            }
        });
    }

    /** What another client does while the stalled one holds its server, to show it is not held up. */
    private interface OtherClient {
        void run() throws Exception;
    }

    private static void streamToAStalledClient(WireClient slow, String user, OtherClient other) throws Exception {
        // pgsvc's channels allocate from the default allocator; only then does its metric measure pgsvc's buffers.
        assertSame(PooledByteBufAllocator.DEFAULT, ByteBufAllocator.DEFAULT);
        try (Connection admin = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres")) {
            try (Statement st = admin.createStatement()) {
                st.execute("SELECT setval('it_stream_seq', 1, false)");
            }
            slow.sendQuery(BIG_QUERY);
            long[] produced = {-1};
            int[] stalledPolls = {0};
            Await.until(Duration.ofSeconds(30), "the backend streaming to the stalled client stays in ClientWrite "
                    + "without producing rows", () -> {
                        long now = producedRows(admin);
                        boolean blocked = blockedOnWrite(admin, user);
                        stalledPolls[0] = blocked && now == produced[0] ? stalledPolls[0] + 1 : 0;
                        produced[0] = now;
                        return stalledPolls[0] >= STALLED_POLLS;
                    });
            assertTrue(produced[0] < ROWS / 2, "PostgreSQL produced " + produced[0] + " of " + ROWS
                    + " rows for a client that read none: pgsvc kept reading from the server");

            PooledByteBufAllocatorMetric metric = PooledByteBufAllocator.DEFAULT.metric();
            long direct = metric.usedDirectMemory();
            long heap = metric.usedHeapMemory();
            System.out.printf("stalled after %d rows; pooled direct memory %d, heap %d%n", produced[0], direct, heap);
            assertTrue(direct < MEMORY_BOUND, "pooled direct memory while the client is stalled: " + direct);
            assertTrue(heap < MEMORY_BOUND, "pooled heap memory while the client is stalled: " + heap);

            other.run();
            assertTrue(blockedOnWrite(admin, user), "the big result is still stalled after the other client's query");

            WireClient.Result all = slow.readResult(false).orThrow();
            assertEquals(ROWS, all.dataRows());
            assertEquals(List.of("SELECT " + ROWS), all.tags());
            assertEquals('I', all.txStatus());
            assertEquals(List.of("1"), slow.query("SELECT 1").orThrow().values(), "the session goes on");
        }
    }

    private static long producedRows(Connection admin) throws Exception {
        try (Statement st = admin.createStatement();
             ResultSet rs = st.executeQuery("SELECT last_value, is_called FROM it_stream_seq")) {
            rs.next();
            return rs.getBoolean(2) ? rs.getLong(1) : 0;
        }
    }

    private static boolean blockedOnWrite(Connection admin, String user) throws Exception {
        try (Statement st = admin.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE usename = '" + user
                     + "' AND state = 'active' AND wait_event = 'ClientWrite' AND query = '"
                     + BIG_QUERY.replace("'", "''") + "'")) {
            rs.next();
            return rs.getInt(1) == 1;
        }
    }
}
