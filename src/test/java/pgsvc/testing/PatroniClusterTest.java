package pgsvc.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Patroni harness itself: a healthy cluster looks healthy through Patroni's REST API and replicates; a crashed
 * PostgreSQL is restarted in place; a dead leader node is replaced by the replica.
 */
@Tag("patroni")
class PatroniClusterTest {

    private static final Duration HEALTHY_TIMEOUT = Duration.ofSeconds(60);
    /** The leader key outlives its dead owner by up to a TTL; then the replica needs a loop or two to promote. */
    private static final Duration FAILOVER_TIMEOUT = PatroniCluster.TTL.multipliedBy(3);
    private static final Duration REPLICATION_TIMEOUT = Duration.ofSeconds(30);

    @Test
    void leaderReplicatesRestartsAfterACrashAndIsReplacedWhenItsNodeDies() throws SQLException {
        long startNanos = System.nanoTime();
        try (PatroniCluster cluster = PatroniCluster.start("pgsvc-test")) {
            System.out.println("Patroni cluster started in " + millisSince(startNanos) + " ms: " + cluster.members());
            PatroniMember leader = cluster.leader();
            PatroniMember replica = cluster.other(leader);

            List<PatroniCluster.MemberStatus> status = cluster.clusterStatus();
            assertEquals(1, status.stream().filter(PatroniCluster.MemberStatus::leader).count(), status::toString);
            assertEquals(1, status.stream().filter(s -> s.role().equals("replica")).count(), status::toString);
            assertRoles(cluster, leader, replica);

            String before = "before-" + System.nanoTime();
            insert(leader, before);
            awaitRow(replica, before);
            assertTestRolesLogIn(replica);

            // PostgreSQL alone crashing is no failover: the leader's Patroni still holds the key and restarts it.
            long crashStart = System.nanoTime();
            cluster.killPostgres(leader);
            assertEquals(leader, cluster.awaitLeader(leader::equals, HEALTHY_TIMEOUT), cluster::describe);
            cluster.awaitHealthy(HEALTHY_TIMEOUT);
            System.out.println("PostgreSQL of " + leader.name() + " restarted in " + millisSince(crashStart) + " ms");
            assertRoles(cluster, leader, replica);

            long failoverStart = System.nanoTime();
            cluster.stopPatroni(leader);
            PatroniMember promoted = cluster.awaitLeaderOtherThan(leader, FAILOVER_TIMEOUT);
            System.out.println("failover from " + leader.name() + " to " + promoted.name() + " took "
                    + millisSince(failoverStart) + " ms (ttl " + PatroniCluster.TTL.toSeconds() + " s)");
            assertEquals(replica, promoted);
            assertEquals(200, cluster.restEndpoint(promoted, "primary"), cluster::describe);
            assertEquals(503, cluster.restEndpoint(promoted, "replica"), cluster::describe);
            assertThrows(UncheckedIOException.class, () -> cluster.restEndpoint(leader, "primary"));
            String after = "after-" + System.nanoTime();
            insert(promoted, after);
            assertEquals(2, count(promoted, before, after), "rows written before and after the failover");

            // The old leader comes back as a replica of the new one.
            long rejoinStart = System.nanoTime();
            cluster.startPatroni(leader);
            cluster.awaitHealthy(HEALTHY_TIMEOUT);
            System.out.println(leader.name() + " rejoined as a replica in " + millisSince(rejoinStart) + " ms");
            assertEquals(promoted, cluster.leader(), cluster::describe);
            awaitRow(leader, after);
        }
    }

    @Test
    void clusterJsonIsReadForNameRoleStateAndTimelineOnly() throws Exception {
        String json = "{\"scope\": \"s\", \"scheduled_switchover\": {\"at\": \"2024-01-01T00:00:00\"}, \"members\": ["
                + "{\"name\": \"pg-1\", \"role\": \"leader\", \"state\": \"running\", \"host\": \"127.0.0.1\", "
                + "\"port\": 5432, \"timeline\": 3, \"tags\": {\"nofailover\": true}},"
                + "{\"name\": \"pg-2\", \"role\": \"replica\", \"state\": \"streaming\", \"lag\": \"unknown\"}],"
                + "\"pause\": true}";
        assertEquals(List.of(new PatroniCluster.MemberStatus("pg-1", "leader", "running", 3),
                        new PatroniCluster.MemberStatus("pg-2", "replica", "streaming", 0)),
                PatroniCluster.parseMembers(json));
        assertEquals(List.of(), PatroniCluster.parseMembers("{\"members\": []}"));
    }

    private static void assertRoles(PatroniCluster cluster, PatroniMember leader, PatroniMember replica) {
        assertNotEquals(leader, replica);
        assertEquals(200, cluster.restEndpoint(leader, "primary"), cluster::describe);
        assertEquals(503, cluster.restEndpoint(replica, "primary"), cluster::describe);
        assertEquals(503, cluster.restEndpoint(leader, "replica"), cluster::describe);
        assertEquals(200, cluster.restEndpoint(replica, "replica"), cluster::describe);
    }

    private static void assertTestRolesLogIn(PatroniMember member) throws SQLException {
        assertLogsIn(member, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD);
        assertLogsIn(member, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD);
        assertLogsIn(member, PgCluster.TRUST_USER, null);
        try (Connection c = member.connect(PgCluster.DATABASE, PatroniCluster.MONITOR_USER,
                PatroniCluster.MONITOR_PASSWORD); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_has_role('pg_monitor', 'MEMBER')")) {
            rs.next();
            assertTrue(rs.getBoolean(1), "the monitoring role is a member of pg_monitor");
        }
    }

    private static void assertLogsIn(PatroniMember member, String user, String password) throws SQLException {
        try (Connection c = member.connect(PgCluster.DATABASE, user, password); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT current_user")) {
            rs.next();
            assertEquals(user, rs.getString(1));
        }
    }

    private static void insert(PatroniMember member, String marker) throws SQLException {
        try (Connection c = member.connect(PgCluster.DATABASE, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD);
             Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS harness_patroni (v text)");
            st.execute("INSERT INTO harness_patroni VALUES ('" + marker + "')");
        }
    }

    private static void awaitRow(PatroniMember member, String marker) {
        Await.until(REPLICATION_TIMEOUT, member.name() + " has " + marker, () -> count(member, marker) == 1);
    }

    private static int count(PatroniMember member, String... markers) throws SQLException {
        try (Connection c = member.connect(PgCluster.DATABASE, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD);
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                     "SELECT count(*) FROM harness_patroni WHERE v IN ('" + String.join("', '", markers) + "')")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static long millisSince(long nanos) {
        return Duration.ofNanos(System.nanoTime() - nanos).toMillis();
    }
}
