package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import pgsvc.testing.Await;
import pgsvc.testing.PatroniCluster;
import pgsvc.testing.PatroniMember;

/**
 * The HA stack users already run: a real two-member Patroni cluster on etcd, pgsvc checking it through Patroni's
 * REST API. The leader's Patroni and PostgreSQL are stopped, Patroni fails over, and pgsvc's primary service
 * follows with no reload; an idle transaction-mode client carries on.
 */
@Tag("patroni")
class PatroniFailoverTest {
    private static PatroniCluster patroni;
    private static PoolerFixture pgsvc;
    private static final int PRIMARY = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();

    @BeforeAll
    static void start() {
        patroni = PatroniCluster.start("pgsvc-router");
        patroni.awaitHealthy(Duration.ofSeconds(90));
        StringBuilder hosts = new StringBuilder("\n[hosts]\n");
        for (PatroniMember m : patroni.members()) {
            hosts.append(m.name()).append(" = host=127.0.0.1 port=").append(m.pgPort())
                    .append(" patroni_port=").append(m.restPort()).append('\n');
        }
        String sections = hosts
                + "\n[services]\n"
                + "primary = port=" + PRIMARY + " role=primary dest=pooler\n"
                + "replica = port=" + REPLICA + " role=replica backup=primary dest=pooler\n"
                + "\n[router]\ncheck = patroni\ncheck_interval = 0.5\ncheck_fast_interval = 0.2\n"
                + "check_down_interval = 0.5\ncheck_timeout = 1\nrise = 2\nfall = 2\n";
        pgsvc = PoolerFixture.builder(PoolerFixture.defaults()).upstreamPort(patroni.leader().pgPort())
                .sections(sections).start();
        PatroniMember leader = patroni.leader();
        Await.until(Duration.ofSeconds(30), "pgsvc sees the leader as primary and the other as replica",
                () -> "UP primary".equals(pgsvc.pgsvc().memberState(leader.name()))
                        && "UP replica".equals(pgsvc.pgsvc().memberState(patroni.other(leader).name())));
    }

    @AfterAll
    static void stop() {
        if (pgsvc != null) {
            pgsvc.close();
        }
        if (patroni != null) {
            patroni.close();
        }
    }

    private static Connection connect(int port) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/pgsvc?prepareThreshold=0"
                + "&connectTimeout=5&socketTimeout=30", "postgres", "postgres");
    }

    private static int serverPort(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @Test
    void thePrimaryServiceFollowsPatroniFailover() throws Exception {
        PatroniMember leader = patroni.leader();
        PatroniMember other = patroni.other(leader);
        try (Connection setup = connect(PRIMARY); Statement st = setup.createStatement()) {
            st.execute("CREATE TABLE patroni_log (id serial primary key, note text)");
        }
        assertEquals(other.pgPort(), serverPort(connect(REPLICA), "SELECT inet_server_port()"));
        try (Connection idle = connect(PRIMARY)) {
            assertEquals(leader.pgPort(), serverPort(idle,
                    "INSERT INTO patroni_log (note) VALUES ('before') RETURNING inet_server_port()"));
            // Replication is asynchronous: a replica promoted before it replayed the table would have no table to
            // write to after the failover, which is Patroni's business, not the router's.
            Await.until(Duration.ofSeconds(30), "the replica has replayed the row written before the failover", () -> {
                try (Connection r = connect(REPLICA)) {
                    return serverPort(r, "SELECT count(*) FROM patroni_log WHERE note = 'before'") == 1;
                } catch (SQLException notYet) {
                    return false;
                }
            });

            long t0 = System.nanoTime();
            patroni.stopPatroni(leader);
            int errors = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (true) {
                try (Connection c = connect(PRIMARY)) {
                    assertEquals(other.pgPort(), serverPort(c,
                            "INSERT INTO patroni_log (note) VALUES ('after') RETURNING inet_server_port()"));
                    break;
                } catch (SQLException e) {
                    errors++;
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("no write through the primary service after failover\n"
                                + patroni.describe(), e);
                    }
                }
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("failover (patroni checks): first write %d ms after the leader stopped, %d failed "
                    + "attempts%n", ms, errors);
            assertEquals(other.pgPort(), serverPort(idle,
                    "INSERT INTO patroni_log (note) VALUES ('idle client') RETURNING inet_server_port()"));
        }
    }
}
