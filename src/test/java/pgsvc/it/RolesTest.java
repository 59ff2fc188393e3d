package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * The standby and delayed roles, from what the members report: a replica becomes a synchronous standby when the
 * primary names it (matched by application_name = host name; the harness's replica streams under its cluster_name),
 * and
 * a delayed replica once recovery_min_apply_delay is set, which also takes it out of the replica service.
 */
@ExtendWith(PgClusterExtension.class)
class RolesTest {
    private static PgCluster cluster;
    private static PoolerFixture pgsvc;
    private static final int STANDBY = PoolerFixture.freePort();
    private static final int DELAYED = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();

    @BeforeAll
    static void start() {
        cluster = PgCluster.startNew();
        String sections = "\n[hosts]\n"
                + "m1 = host=127.0.0.1 port=" + cluster.primary().port() + "\n"
                + cluster.replica().name() + " = host=127.0.0.1 port=" + cluster.replica().port() + "\n"
                + "\n[services]\n"
                + "standby = port=" + STANDBY + " role=standby backup=primary dest=postgres\n"
                + "delayed = port=" + DELAYED + " role=delayed dest=postgres\n"
                + "replica = port=" + REPLICA + " role=replica backup=primary dest=postgres\n"
                + "\n[router]\ncheck_user = postgres\ncheck_interval = 0.2\ncheck_fast_interval = 0.1\n"
                + "check_down_interval = 0.2\nrise = 2\nfall = 2\n";
        pgsvc = PoolerFixture.builder(PoolerFixture.defaults()).cluster(cluster).sections(sections).start();
        Await.until(Duration.ofSeconds(20), "both members up",
                () -> "UP replica".equals(pgsvc.pgsvc().memberState(cluster.replica().name()))
                        && "UP primary".equals(pgsvc.pgsvc().memberState("m1")));
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
        cluster.close();
    }

    private static int where(int port) throws SQLException {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/pgsvc"
                + "?connectTimeout=5", "postgres", "postgres");
             Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static boolean lands(int servicePort, int memberPort) {
        try {
            return where(servicePort) == memberPort;
        } catch (SQLException e) {
            return false;
        }
    }

    @Test
    void synchronousStandbyAndDelayedReplica() throws Exception {
        int primary = cluster.primary().port();
        int replica = cluster.replica().port();
        // Asynchronous at first: the standby service has no member of its role and uses its backup, the primary.
        assertEquals(primary, where(STANDBY));
        assertEquals(replica, where(REPLICA));

        try (Connection c = cluster.primary().connectAdmin(); Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM SET synchronous_standby_names = '" + cluster.replica().name() + "'");
            st.execute("SELECT pg_reload_conf()");
        }
        Await.until(Duration.ofSeconds(20), "the standby service reaches the sync standby",
                () -> lands(STANDBY, replica));

        // A delay on the replica makes it a delayed member, no longer an ordinary replica.
        Files.writeString(cluster.replica().dataDir().resolve("postgresql.auto.conf"),
                "\nrecovery_min_apply_delay = '1h'\n", StandardOpenOption.APPEND);
        try (Connection c = cluster.replica().connectAdmin(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_reload_conf()");
        }
        Await.until(Duration.ofSeconds(20), "the delayed service reaches the delayed replica",
                () -> lands(DELAYED, replica));
        assertEquals(primary, where(REPLICA), "a delayed replica is not in the replica service");
    }
}
