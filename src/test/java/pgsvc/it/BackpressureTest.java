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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/** A result far larger than pgsvc may buffer goes to a client that stops reading: pgsvc stops reading too. */
@ExtendWith(PgClusterExtension.class)
class BackpressureTest {
    private static final String USER = "pgsvc_stream";
    private static final String PASSWORD = "streampass";
    private static final int ROWS = 300_000;
    /** About 300 MB of DataRows: several times anything pgsvc may hold for one client. */
    private static final String BIG_QUERY = "SELECT repeat('x', 1000) FROM generate_series(1, " + ROWS + ")";
    private static final long MEMORY_BOUND = 64L << 20;

    private static PoolerFixture pooler;

    @BeforeAll
    static void start() throws Exception {
        TestRoles.create(USER, PASSWORD);
        pooler = PoolerFixture.builder(PoolerFixture.defaults())
                .userlist(TestRoles.userlistWith(USER, PASSWORD)).start();
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    @Test
    void aStalledClientStallsItsServerWithBoundedMemoryAndThenGetsEveryRow() throws Exception {
        // pgsvc's channels allocate from the default allocator; only then does its metric measure pgsvc's buffers.
        assertSame(PooledByteBufAllocator.DEFAULT, ByteBufAllocator.DEFAULT);
        try (RawClient slow = RawClient.login(pooler.port(), USER, PASSWORD, 32 * 1024)) {
            slow.sendQuery(BIG_QUERY);
            Await.until(Duration.ofSeconds(30), "the backend streaming to the stalled client waits in ClientWrite",
                    BackpressureTest::backendBlockedOnWrite);

            PooledByteBufAllocatorMetric metric = PooledByteBufAllocator.DEFAULT.metric();
            long direct = metric.usedDirectMemory();
            long heap = metric.usedHeapMemory();
            assertTrue(direct < MEMORY_BOUND, "pooled direct memory while the client is stalled: " + direct);
            assertTrue(heap < MEMORY_BOUND, "pooled heap memory while the client is stalled: " + heap);

            // Another client of the same pool is not held up by the stalled one.
            try (Connection c = pooler.connect(USER, PASSWORD); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 1")) {
                assertTrue(rs.next());
                assertEquals(1, rs.getInt(1));
            }
            assertTrue(backendBlockedOnWrite(), "the big result is still stalled after the other client's query");

            RawClient.Result all = slow.readResult(false).orThrow();
            assertEquals(ROWS, all.dataRows());
            assertEquals(List.of("SELECT " + ROWS), all.tags());
            assertEquals('I', all.txStatus());
            assertEquals(List.of("1"), slow.query("SELECT 1").orThrow().values(), "the session goes on");
        }
    }

    private static boolean backendBlockedOnWrite() throws Exception {
        try (Connection c = PgCluster.shared().primary().connectAdmin(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE usename = '" + USER
                     + "' AND state = 'active' AND wait_event = 'ClientWrite' AND query = '" + BIG_QUERY.replace("'", "''")
                     + "'")) {
            rs.next();
            return rs.getInt(1) == 1;
        }
    }
}
