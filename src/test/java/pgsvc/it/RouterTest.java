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
    private static PgCluster cluster;
    private static PoolerFixture pgsvc;
    private static int primaryPort;
    private static int replicaPort;
    private static int defaultPort;
    private static int offlinePort;
    private static final int LIMITED = PoolerFixture.freePort();

    @BeforeAll
    static void start() {
        cluster = PgCluster.startNew();
        primaryPort = PoolerFixture.freePort();
        replicaPort = PoolerFixture.freePort();
        defaultPort = PoolerFixture.freePort();
        offlinePort = PoolerFixture.freePort();
        pgsvc = PoolerFixture.builder(PoolerFixture.defaults()).cluster(cluster)
                .databases("rw = host=m1,m2 dbname=pgsvc target_session_attrs=read-write\n"
                        + "ro = host=m1,m2 dbname=pgsvc target_session_attrs=read-only\n")
                .sections(sections(cluster, primaryPort, replicaPort,
                defaultPort, offlinePort).replace("\n[router]\n",
                "limited = port=" + LIMITED + " role=primary dest=postgres maxconn=1\n\n[router]\n")).start();
        awaitMember("m1", "UP primary");
        awaitMember("m2", "UP replica");
    }

    static String sections(PgCluster c, int primaryPort, int replicaPort, int defaultPort, int offlinePort) {
        return "\n[hosts]\n"
                + "m1 = host=127.0.0.1 port=" + c.primary().port() + "\n"
                + "m2 = host=127.0.0.1 port=" + c.replica().port() + "\n"
                + "\n[services]\n"
                + "primary = port=" + primaryPort + " role=primary dest=pooler\n"
                + "replica = port=" + replicaPort + " role=replica backup=primary dest=pooler\n"
                + "default = port=" + defaultPort + " role=primary dest=postgres\n"
                + "offline = port=" + offlinePort + " role=offline backup=replica dest=postgres\n"
                + "\n[router]\n"
                + "check_user = postgres\n"
                + "check_interval = 0.2\n"
                + "check_fast_interval = 0.1\n"
                + "check_down_interval = 0.2\n"
                + "check_timeout = 1\n"
                + "rise = 2\n"
                + "fall = 2\n";
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
        cluster.close();
    }

    private static void awaitMember(String name, String state) {
        Await.until(Duration.ofSeconds(20), name + " is " + state,
                () -> state.equals(pgsvc.pgsvc().memberState(name)));
    }

    /** (server port, in recovery) of the member a new connection through the service lands on. */
    private static String where(int servicePort) throws SQLException {
        try (Connection c = java.sql.DriverManager.getConnection(
                "jdbc:postgresql://127.0.0.1:" + servicePort + "/pgsvc?prepareThreshold=0", "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            return rs.getInt(1) + "/" + rs.getBoolean(2);
        }
    }

    @Test
    void eachServiceReachesTheMemberItsRoleNames() throws Exception {
        String primary = cluster.primary().port() + "/false";
        String replica = cluster.replica().port() + "/true";
        assertEquals(primary, where(primaryPort));
        assertEquals(replica, where(replicaPort));
        assertEquals(primary, where(defaultPort));
        // No offline-tagged member: the offline service uses its backup tier, the replica, never the primary.
        assertEquals(replica, where(offlinePort));
    }

    /** The same as {@link #where(int)} through the plain pooler port and a database name. */
    private static String whereDb(String db) throws SQLException {
        try (Connection c = pgsvc.connect(db, "postgres", "postgres", new java.util.Properties());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            return rs.getInt(1) + "/" + rs.getBoolean(2);
        }
    }

    @Test
    void databaseEntriesWithTargetSessionAttrsFollowRoles() throws Exception {
        assertEquals(cluster.primary().port() + "/false", whereDb("rw"));
        assertEquals(cluster.replica().port() + "/true", whereDb("ro"));
    }

    @Test
    void aSmartClientWithAMultiHostUrlPicksThePrimaryService() throws Exception {
        // libpq's target_session_attrs, pgjdbc's targetServerType: the client asks each address until one is
        // writable; through pgsvc the answer comes from the member behind each service.
        String url = "jdbc:postgresql://127.0.0.1:" + replicaPort + ",127.0.0.1:" + primaryPort
                + "/pgsvc?targetServerType=primary&prepareThreshold=0";
        try (Connection c = java.sql.DriverManager.getConnection(url, "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            assertEquals(cluster.primary().port(), rs.getInt(1));
        }
    }

    @Test
    void aServiceAtMaxconnLeavesTheNextClientInTheAcceptQueue() throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + LIMITED + "/pgsvc?loginTimeout=2";
        try (Connection first = java.sql.DriverManager.getConnection(url, "postgres", "postgres")) {
            assertTrue(first.isValid(5));
            // The listener stopped accepting: the second client's login gets no answer before its own deadline.
            assertThrows(SQLException.class, () -> java.sql.DriverManager.getConnection(url, "postgres", "postgres")
                    .close());
        }
        // The first left, so the listener accepts again (the abandoned connection first, then this one).
        Await.until(Duration.ofSeconds(20), "a client is served again", () -> {
            try (Connection next = java.sql.DriverManager.getConnection(url, "postgres", "postgres")) {
                return next.isValid(5);
            } catch (SQLException e) {
                return false;
            }
        });
    }

    @Test
    void aClientOnTheReplicaServiceSeesAHotStandby() throws Exception {
        try (Connection c = java.sql.DriverManager.getConnection(
                "jdbc:postgresql://127.0.0.1:" + replicaPort + "/pgsvc?prepareThreshold=0", "postgres", "postgres");
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
        String primary = cluster.primary().port() + "/false";
        String replica = cluster.replica().port() + "/true";
        cluster.replica().stop();
        try {
            awaitMember("m2", "DOWN replica");
            assertEquals(primary, where(replicaPort));
        } finally {
            cluster.replica().start();
        }
        awaitMember("m2", "UP replica");
        assertEquals(replica, where(replicaPort));
        assertEquals(replica, where(offlinePort));
    }
}
