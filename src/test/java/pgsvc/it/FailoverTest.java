package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * Failover with SQL checks on a real primary and streaming replica: the primary is stopped and the replica promoted;
 * the primary service follows without a reload, an idle transaction-mode client connected before carries on (its
 * transaction waits for the new primary, and SHOW POOLS says it waits), and a direct session that was on the replica
 * is cut when that member's role changes.
 */
@ExtendWith(PgClusterExtension.class)
class FailoverTest {
    private static final int PRIMARY = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();
    private static final int DEFAULT = PoolerFixture.freePort();
    private static final int OFFLINE = PoolerFixture.freePort();
    private static RouterFixture router;

    @BeforeAll
    static void start() {
        var settings = PoolerFixture.defaults();
        settings.put("stats_users", "postgres");
        var pooler = PoolerFixture.builder(settings)
                .databases("rw = host=m1,m2 dbname=pgsvc target_session_attrs=read-write\n");
        router = RouterFixture.start(pooler, c -> RouterFixture.pigstySections(c, PRIMARY, REPLICA, DEFAULT, OFFLINE));
        router.awaitMember("m1", "UP primary");
        router.awaitMember("m2", "UP replica");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    private static Connection connect(int port) throws SQLException {
        return RouterFixture.connect(port, "prepareThreshold=0&connectTimeout=5&socketTimeout=10");
    }

    /** SHOW POOLS's cl_active and cl_waiting for the superuser, over the pools whose database matches. */
    private static Map<String, Integer> clients(Predicate<String> database) throws SQLException {
        Map<String, Integer> all = ConsoleQueries.poolCounts(router.pgsvc(), database, PgCluster.SUPERUSER);
        return Map.of("cl_active", all.get("cl_active"), "cl_waiting", all.get("cl_waiting"));
    }

    @Test
    void thePrimaryServiceFollowsAPromotion() throws Exception {
        PgCluster cluster = router.cluster();
        try (Connection setup = connect(PRIMARY); Statement st = setup.createStatement()) {
            st.execute("CREATE TABLE failover_log (id serial primary key, note text)");
        }
        try (Connection idle = connect(PRIMARY); Connection direct = connect(OFFLINE)) {
            try (Statement st = idle.createStatement()) {
                st.execute("INSERT INTO failover_log (note) VALUES ('before')");
            }
            try (Statement st = direct.createStatement();
                 ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
                rs.next();
                assertTrue(rs.getBoolean(1), "the offline service landed on the replica");
            }

            long t0 = System.nanoTime();
            cluster.primary().stop();
            // With no primary, the idle client's next transaction waits for one: SHOW POOLS counts it in cl_waiting
            // of the pool it used last, m1's, as PgBouncer counts a client waiting for a server.
            Await.until(Duration.ofSeconds(20), "m1 is down", () -> router.memberState("m1").startsWith("DOWN"));
            Predicate<String> m1Pool = db -> db.endsWith(":" + cluster.primary().port());
            // The setup session's close is counted on pgsvc's loop, a moment after it returned here.
            Await.until(Duration.ofSeconds(20), "the idle client alone in m1's pool, active",
                    () -> clients(m1Pool).equals(Map.of("cl_active", 1, "cl_waiting", 0)));
            CompletableFuture<Integer> idleInsert = CompletableFuture.supplyAsync(() -> {
                try (Statement st = idle.createStatement();
                     ResultSet rs = st.executeQuery("INSERT INTO failover_log (note) VALUES ('idle client') "
                             + "RETURNING inet_server_port()")) {
                    rs.next();
                    return rs.getInt(1);
                } catch (SQLException e) {
                    throw new CompletionException(e);
                }
            });
            Await.until(Duration.ofSeconds(20), "the idle client's transaction waits for a primary",
                    () -> clients(m1Pool).equals(Map.of("cl_active", 0, "cl_waiting", 1)));
            cluster.replica().promote();
            int errors = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (true) {
                try (Connection c = connect(PRIMARY); Statement st = c.createStatement()) {
                    st.execute("INSERT INTO failover_log (note) VALUES ('after')");
                    break;
                } catch (SQLException e) {
                    errors++;
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("no write through the primary service after failover", e);
                    }
                }
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("failover (sql checks): first write %d ms after the primary stopped, %d failed "
                    + "attempts%n", ms, errors);
            assertEquals("UP primary", router.memberState("m2"));

            // The client that sat idle between transactions carries on, on the new primary, with no error; it
            // waits no more.
            assertEquals(cluster.replica().port(), idleInsert.get(30, TimeUnit.SECONDS));
            Await.until(Duration.ofSeconds(20), "nobody waits in m1's pool",
                    () -> clients(m1Pool).get("cl_waiting") == 0);
            // The pooler port's read-write entry follows too, with no reload.
            try (Connection c = router.pgsvc().connect("rw", "postgres", "postgres", new Properties());
                 Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("INSERT INTO failover_log (note) VALUES ('via 6432') "
                         + "RETURNING inet_server_port()")) {
                rs.next();
                assertEquals(cluster.replica().port(), rs.getInt(1));
            }
            // The direct session chose m2 as a replica; it is a primary now, so pgsvc cut the session.
            SQLException cut = assertThrows(SQLException.class, () -> {
                try (Statement st = direct.createStatement()) {
                    st.execute("SELECT 1");
                }
            });
            assertTrue(cut.getSQLState() == null || cut.getSQLState().startsWith("08"), cut.toString());
        }
    }
}
