package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.it.RouterFixture.where;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * Pigsty's four services inside pgsvc, on a real primary and streaming replica: each reaches the member its role
 * names, and the replica service falls back to the primary while the replica is away and returns when it is back.
 */
@ExtendWith(PgClusterExtension.class)
class RouterTest {
    private static final int PRIMARY = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();
    private static final int DEFAULT = PoolerFixture.freePort();
    private static final int OFFLINE = PoolerFixture.freePort();
    private static final int LIMITED = PoolerFixture.freePort();
    private static RouterFixture router;

    @BeforeAll
    static void start() {
        var pooler = PoolerFixture.builder(PoolerFixture.defaults())
                .databases("rw = host=m1,m2 dbname=pgsvc target_session_attrs=read-write\n"
                        + "ro = host=m1,m2 dbname=pgsvc target_session_attrs=read-only\n");
        router = RouterFixture.start(pooler, c -> RouterFixture.pigstySections(c, PRIMARY, REPLICA, DEFAULT, OFFLINE,
                "limited = port=" + LIMITED + " role=primary dest=postgres maxconn=1\n"));
        router.awaitMember("m1", "UP primary");
        router.awaitMember("m2", "UP replica");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    /** "(server port)/(in recovery)" of the member a new session gets through the plain pooler port and {@code db}. */
    private static String whereDb(String db) throws SQLException {
        try (Connection c = router.pgsvc().connect(db, "postgres", "postgres", new Properties())) {
            return where(c);
        }
    }

    @Test
    void eachServiceReachesTheMemberItsRoleNames() throws Exception {
        String primary = router.wherePrimary();
        String replica = router.whereReplica();
        assertEquals(primary, where(PRIMARY));
        assertEquals(replica, where(REPLICA));
        assertEquals(primary, where(DEFAULT));
        // No offline-tagged member: the offline service uses its backup tier, the replica, never the primary.
        assertEquals(replica, where(OFFLINE));
    }

    @Test
    void databaseEntriesWithTargetSessionAttrsFollowRoles() throws Exception {
        assertEquals(router.wherePrimary(), whereDb("rw"));
        assertEquals(router.whereReplica(), whereDb("ro"));
    }

    @Test
    void aSmartClientWithAMultiHostUrlPicksThePrimaryService() throws Exception {
        // libpq's target_session_attrs, pgjdbc's targetServerType: the client asks each address until one is
        // writable; through pgsvc the answer comes from the member behind each service.
        String url = "jdbc:postgresql://127.0.0.1:" + REPLICA + ",127.0.0.1:" + PRIMARY
                + "/pgsvc?targetServerType=primary&prepareThreshold=0";
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            assertEquals(router.cluster().primary().port(), rs.getInt(1));
        }
    }

    @Test
    void aServiceAtMaxconnLeavesTheNextClientInTheAcceptQueue() throws Exception {
        try (Connection first = RouterFixture.connect(LIMITED, "loginTimeout=2")) {
            assertTrue(first.isValid(5));
            // The listener stopped accepting: the second client's login gets no answer before its own deadline.
            assertThrows(SQLException.class, () -> RouterFixture.connect(LIMITED, "loginTimeout=2").close());
        }
        // The first left, so the listener accepts again (the abandoned connection first, then this one).
        Await.until(Duration.ofSeconds(20), "a client is served again", () -> {
            try (Connection next = RouterFixture.connect(LIMITED, "loginTimeout=2")) {
                return next.isValid(5);
            } catch (SQLException e) {
                return false;
            }
        });
    }

    @Test
    void aClientOnTheReplicaServiceSeesAHotStandby() throws Exception {
        try (Connection c = RouterFixture.connect(REPLICA, "prepareThreshold=0");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT current_setting('in_hot_standby'), "
                     + "current_setting('default_transaction_read_only')")) {
            rs.next();
            assertEquals("on", rs.getString(1));
            assertEquals("on", rs.getString(2));
            Map<String, String> reported = c.unwrap(org.postgresql.PGConnection.class).getParameterStatuses();
            assertEquals("on", reported.get("in_hot_standby"));
            assertEquals("on", reported.get("default_transaction_read_only"));
        }
    }

    @Test
    void theReplicaServiceFallsBackToThePrimaryAndReturns() throws Exception {
        String primary = router.wherePrimary();
        String replica = router.whereReplica();
        PgCluster cluster = router.cluster();
        cluster.replica().stop();
        try {
            router.awaitMember("m2", "DOWN replica");
            assertEquals(primary, where(REPLICA));
        } finally {
            cluster.replica().start();
        }
        router.awaitMember("m2", "UP replica");
        assertEquals(replica, where(REPLICA));
        assertEquals(replica, where(OFFLINE));
    }
}
