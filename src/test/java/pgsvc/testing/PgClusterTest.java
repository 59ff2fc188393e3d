package pgsvc.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PgClusterExtension.class)
class PgClusterTest {

    private static final Duration REPLICATION_TIMEOUT = Duration.ofSeconds(30);

    private static PgCluster cluster;

    @BeforeAll
    static void cluster() {
        cluster = PgCluster.shared();
        System.out.println("cluster started in " + cluster.startupTime().toMillis() + " ms: "
                + cluster.primary() + ", " + cluster.replica());
    }

    @Test
    void sharedIsOneClusterPerJvm() {
        assertTrue(cluster == PgCluster.shared());
    }

    @Test
    void primaryIsNotInRecoveryAndReplicaIs() throws SQLException {
        assertFalse(cluster.primary().inRecovery());
        assertTrue(cluster.replica().inRecovery());
        assertTrue(cluster.primary().port() != cluster.replica().port());
    }

    @Test
    void rowWrittenOnPrimaryShowsUpOnReplica() throws SQLException {
        String marker = "row-" + System.nanoTime();
        try (Connection c = cluster.primary().connect(PgCluster.DATABASE, PgCluster.SCRAM_USER,
                PgCluster.SCRAM_PASSWORD); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS harness_replication (v text)");
            st.execute("INSERT INTO harness_replication VALUES ('" + marker + "')");
        }
        Await.until(REPLICATION_TIMEOUT, "the replica has " + marker, () -> {
            try (Connection c = cluster.replica().connect(PgCluster.DATABASE, PgCluster.SCRAM_USER,
                    PgCluster.SCRAM_PASSWORD); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(
                         "SELECT count(*) FROM harness_replication WHERE v = '" + marker + "'")) {
                rs.next();
                return rs.getInt(1) == 1;
            }
        });
    }

    @Test
    void md5UserHasAnMd5HashAndLogsInOnlyWithItsPassword() throws SQLException {
        assertEquals("md5", Tools.psql(cluster.primary().port(), PgCluster.SUPERUSER, PgCluster.SUPERUSER_PASSWORD,
                "postgres", "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'pgsvc_md5'").value());
        assertLogsInOnlyWithPassword(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD);
    }

    @Test
    void scramUserHasAScramVerifierAndLogsInOnlyWithItsPassword() throws SQLException {
        assertEquals("SCRAM-SHA-256$", Tools.psql(cluster.primary().port(), PgCluster.SUPERUSER,
                PgCluster.SUPERUSER_PASSWORD, "postgres",
                "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'pgsvc_scram'").value());
        assertLogsInOnlyWithPassword(PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD);
    }

    @Test
    void trustUserLogsInWithoutPassword() throws SQLException {
        try (Connection c = cluster.primary().connect(PgCluster.DATABASE, PgCluster.TRUST_USER, null)) {
            assertTrue(c.isValid(5));
        }
    }

    @Test
    void psqlReturnsAValueAndReportsAWrongPassword() {
        int port = cluster.primary().port();
        assertEquals("42", Tools.psql(port, PgCluster.SCRAM_USER, PgCluster.SCRAM_PASSWORD, PgCluster.DATABASE,
                "SELECT 40 + 2").value());
        ProcResult wrong = Tools.psql(port, PgCluster.SCRAM_USER, "nope", PgCluster.DATABASE, "SELECT 1");
        assertFalse(wrong.ok());
        assertTrue(wrong.stderr().contains("password authentication failed"), wrong.describe());
    }

    @Test
    void unixSocketIsInTheSocketDir() {
        PgServer primary = cluster.primary();
        assertTrue(Files.exists(primary.socketDir().resolve(".s.PGSQL." + primary.port())));
        assertTrue(Files.isRegularFile(primary.dataDir().resolve("PG_VERSION")));
    }

    @Test
    void pgbenchRunsThroughTheHelperWithoutFailures() {
        cluster.pgbenchInit(PgCluster.DATABASE, 1);
        cluster.pgbenchInit(PgCluster.DATABASE, 1);
        ProcResult run = Tools.pgbench(Duration.ofMinutes(2), cluster.primary().port(), PgCluster.SCRAM_USER,
                PgCluster.SCRAM_PASSWORD, PgCluster.DATABASE, "-c", "2", "-t", "10").orThrow();
        assertEquals(0, run.failedTransactions(), run.describe());
        assertEquals(20, run.processedTransactions(), run.describe());
        assertEquals(OptionalLong.of(20), run.plannedTransactions(), run.describe());
        assertTrue(run.tps() > 0, run.describe());
    }

    @Test
    void privateClusterStopsStartsAndPromotes() throws SQLException {
        try (PgCluster own = PgCluster.startNew()) {
            PgServer primary = own.primary();
            PgServer replica = own.replica();
            primary.stop();
            assertFalse(primary.isRunning());
            assertThrows(SQLException.class, primary::connectAdmin);
            replica.promote();
            assertFalse(replica.inRecovery());
            try (Connection c = replica.connectAdmin(); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE written_after_promote (i int)");
            }
            primary.start();
            assertTrue(primary.isRunning());
            assertFalse(primary.inRecovery());
        }
        assertTrue(cluster.primary().isRunning(), "the shared cluster is untouched");
    }

    private static void assertLogsInOnlyWithPassword(String user, String password) throws SQLException {
        try (Connection c = cluster.primary().connect(PgCluster.DATABASE, user, password);
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_user")) {
            rs.next();
            assertEquals(user, rs.getString(1));
        }
        SQLException wrong = assertThrows(SQLException.class,
                () -> cluster.primary().connect(PgCluster.DATABASE, user, password + "x").close());
        assertEquals("28P01", wrong.getSQLState(), wrong.getMessage());
    }
}
