package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/** A client that disappears without a Terminate must leave no lock, no open transaction and no queued wait behind. */
@ExtendWith(PgClusterExtension.class)
class ClientVanishTest {
    private static final String USER = "pgsvc_vanish";
    private static final String PASSWORD = "vanishpass";
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @BeforeAll
    static void setUp() throws Exception {
        TestRoles.create(USER, PASSWORD);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS it_vanish");
            st.execute("CREATE TABLE it_vanish (id int primary key, v text)");
            st.execute("INSERT INTO it_vanish VALUES (1, 'one')");
            st.execute("GRANT ALL ON it_vanish TO " + USER);
        }
    }

    /** A fixture of its own for each test; backends of an earlier test's fixture must be gone, or they would count. */
    private static PoolerFixture pooler(int poolSize) {
        Await.until(DEADLINE, "no backend of " + USER + " is left from an earlier test",
                () -> TestRoles.backends(USER) == 0);
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", Integer.toString(poolSize));
        return PoolerFixture.builder(settings).userlist(TestRoles.userlistWith(USER, PASSWORD)).start();
    }

    @Test
    void aClientVanishingInsideATransactionReleasesItsRowLock() throws Exception {
        int poolSize = 2;
        try (PoolerFixture pooler = pooler(poolSize);
             WireClient holder = WireClient.connect(pooler.port(), USER, PASSWORD)) {
            assertEquals('T', holder.query("BEGIN").orThrow().txStatus());
            WireClient.Result locked = holder.query("SELECT v FROM it_vanish WHERE id = 1 FOR UPDATE").orThrow();
            assertEquals(List.of("one"), locked.values());
            assertEquals('T', locked.txStatus());
            assertEquals(1, TestRoles.backends(USER, "idle in transaction"),
                    "the lock holder's server is idle in transaction before the client vanishes");

            holder.vanish();

            // Straight to PostgreSQL first: through pgsvc, a server left dirty could be handed to the next client,
            // which would then "take" the lock inside the vanished client's transaction.
            try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres")) {
                assertTakesTheLock(c);
            }
            try (Connection c = pooler.connect(USER, PASSWORD)) {
                assertTakesTheLock(c);
            }
            Await.until(DEADLINE, "no backend of " + USER + " is idle in transaction",
                    () -> TestRoles.backends(USER, "idle in transaction") == 0);
            int servers = TestRoles.backends(USER);
            assertTrue(servers <= poolSize, "at most " + poolSize + " server connections, saw " + servers);
        }
    }

    private static void assertTakesTheLock(Connection c) throws Exception {
        try (Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            // A lock left behind fails this with 55P03 rather than hanging the test.
            st.execute("SET LOCAL lock_timeout = '10s'");
            try (ResultSet rs = st.executeQuery("SELECT v FROM it_vanish WHERE id = 1 FOR UPDATE")) {
                assertTrue(rs.next());
                assertEquals("one", rs.getString(1));
            }
            c.commit();
        }
    }

    @Test
    void aClientVanishingWhileWaitingForAServerLeaksNothing() throws Exception {
        try (PoolerFixture pooler = pooler(1);
             Connection gate = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement gateSt = gate.createStatement();
             Connection probe = PgCluster.shared().primary().connectAdmin()) {
            // The pool's only server is kept busy until the test lets it go, instead of for a guessed sleep.
            gate.setAutoCommit(false);
            gateSt.execute("SELECT pg_advisory_xact_lock(4242)");
            try (WireClient busy = WireClient.connect(pooler.port(), USER, PASSWORD)) {
                busy.sendQuery("SELECT pg_advisory_xact_lock(4242)");
                Await.until(DEADLINE, "the pool's server waits on the advisory lock", () -> {
                    // Not on `gate`: inside its transaction pg_stat_activity would stay as first read.
                    try (Statement st = probe.createStatement(); ResultSet rs = st.executeQuery(
                            "SELECT count(*) FROM pg_stat_activity WHERE usename = '" + USER + "' AND "
                                    + "wait_event_type = 'Lock' AND query LIKE 'SELECT pg_advisory_xact_lock%'")) {
                        rs.next();
                        return rs.getInt(1) == 1;
                    }
                });

                // First in the queue: vanishes. Second, queued after the first (its login alone takes several round
                // trips through pgsvc): must be served when the server comes free.
                try (WireClient vanisher = WireClient.connect(pooler.port(), USER, PASSWORD)) {
                    vanisher.sendQuery("SELECT 'vanished'");
                    try (WireClient next = WireClient.connect(pooler.port(), USER, PASSWORD)) {
                        next.sendQuery("SELECT 'served'");
                        vanisher.vanish();

                        gate.commit();
                        assertEquals(1, busy.readResult(true).orThrow().dataRows());
                        WireClient.Result served = next.readResult(true).orThrow();
                        assertEquals(List.of("served"), served.values());
                        assertEquals('I', served.txStatus());
                    }
                }
            }
            try (Connection c = pooler.connect(USER, PASSWORD); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 7")) {
                assertTrue(rs.next());
                assertEquals(7, rs.getInt(1));
            }
            int servers = TestRoles.backends(USER);
            assertTrue(servers <= 1, "at most one server connection for a pool of one, saw " + servers);
        }
    }
}
