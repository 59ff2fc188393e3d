package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * [databases] host lists (PgBouncer 1.17+): round robin per new server connection, or with load_balance_hosts =
 * disable the next host only after one fails. One of the hosts is PostgreSQL's Unix socket directory, so server
 * connections over Unix sockets are exercised too (inet_client_addr() is NULL there).
 */
@ExtendWith(PgClusterExtension.class)
class HostListTest {
    private static String serverSideClientAddrs(PoolerFixture p, String db, int clients) throws Exception {
        List<Connection> open = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        try {
            for (int i = 0; i < clients; i++) {
                Connection c = p.connect(db, "pgsvc_md5", "md5pass", new java.util.Properties());
                open.add(c);
                c.setAutoCommit(false);
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT coalesce(host(inet_client_addr()), 'unix')")) {
                    rs.next();
                    seen.add(rs.getString(1));
                }
            }
        } finally {
            for (Connection c : open) {
                c.close();
            }
        }
        return String.join(",", new java.util.TreeSet<>(seen));
    }

    @Test
    void roundRobinOverTcpAndTheUnixSocket() throws Exception {
        PgCluster cluster = PgCluster.shared();
        String entry = "multi = host=127.0.0.1," + cluster.primary().socketDir() + " port="
                + cluster.primary().port() + " dbname=pgsvc\n";
        try (PoolerFixture p = PoolerFixture.builder(PoolerFixture.defaults()).databases(entry).start()) {
            // Two clients in open transactions hold two servers: one per host.
            assertEquals("127.0.0.1,unix", serverSideClientAddrs(p, "multi", 2));
        }
    }

    @Test
    void disabledLoadBalancingSticksToAHostUntilItFails() throws Exception {
        PgCluster cluster = PgCluster.shared();
        String entry = "sticky = host=/nonexistent-pgsvc-dir,127.0.0.1 port=" + cluster.primary().port()
                + " dbname=pgsvc load_balance_hosts=disable\n";
        var settings = PoolerFixture.defaults();
        settings.put("server_login_retry", "0.1");
        try (PoolerFixture p = PoolerFixture.builder(settings).databases(entry).start()) {
            // The first host has no socket: after that failure every server goes to the second one.
            pgsvc.testing.Await.until(java.time.Duration.ofSeconds(20), "a server on the second host", () -> {
                try {
                    return "127.0.0.1".equals(serverSideClientAddrs(p, "sticky", 1));
                } catch (Exception e) {
                    return false;
                }
            });
            assertEquals("127.0.0.1", serverSideClientAddrs(p, "sticky", 3));
        }
    }
}
