package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static pgsvc.it.RouterFixture.lands;
import static pgsvc.it.RouterFixture.where;

import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
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
    private static final int STANDBY = PoolerFixture.freePort();
    private static final int DELAYED = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();
    private static RouterFixture router;

    @BeforeAll
    static void start() {
        router = RouterFixture.start(PoolerFixture.builder(PoolerFixture.defaults()), RolesTest::sections);
        router.awaitMember(router.cluster().replica().name(), "UP replica");
        router.awaitMember("m1", "UP primary");
    }

    /** The replica's host name is its cluster_name, the application_name synchronous_standby_names matches. */
    private static String sections(PgCluster cluster) {
        return "\n[hosts]\n"
                + "m1 = host=127.0.0.1 port=" + cluster.primary().port() + "\n"
                + cluster.replica().name() + " = host=127.0.0.1 port=" + cluster.replica().port() + "\n"
                + "\n[services]\n"
                + "standby = port=" + STANDBY + " role=standby backup=primary dest=postgres\n"
                + "delayed = port=" + DELAYED + " role=delayed dest=postgres\n"
                + "replica = port=" + REPLICA + " role=replica backup=primary dest=postgres\n"
                + RouterFixture.FAST_CHECKS;
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    @Test
    void synchronousStandbyAndDelayedReplica() throws Exception {
        PgCluster cluster = router.cluster();
        String primary = router.wherePrimary();
        String replica = router.whereReplica();
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
