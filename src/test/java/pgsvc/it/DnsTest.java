package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

import pgsvc.pooler.Dns;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * [databases] entries whose host is a name: it is resolved off the event loops (through /etc/hosts, as
 * getaddrinfo does for PgBouncer) and kept in the resolver's cache, and a name that does not resolve fails the
 * server connect like a refused one: clients get PgBouncer's errors instead of waiting forever.
 */
@ExtendWith(PgClusterExtension.class)
class DnsTest {

    @Test
    void aDatabaseAtLocalhostServesClientsThroughTheResolver() throws Exception {
        int port = PgCluster.shared().primary().port();
        var settings = PoolerFixture.defaults();
        // One server: the first address of the answer, IPv4 first as the JDK orders them (the harness's PostgreSQL
        // listens on 127.0.0.1 only; a second server would take the next address of the name in turn).
        settings.put("default_pool_size", "1");
        try (PoolerFixture p = PoolerFixture.builder(settings)
                .databases("bylocalhost = host=localhost port=" + port + " dbname=pgsvc\n").start()) {
            ExecutorService clients = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<String>>> results = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    int n = i;
                    Callable<List<String>> client = () -> {
                        List<String> seen = new ArrayList<>();
                        try (Connection c = p.connect("bylocalhost", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                                new Properties()); Statement st = c.createStatement()) {
                            for (int q = 0; q < 5; q++) {
                                try (ResultSet rs = st.executeQuery("SELECT current_database() || ' '"
                                        + " || host(inet_server_addr()) || ' ' || " + (n * 10 + q))) {
                                    rs.next();
                                    seen.add(rs.getString(1));
                                }
                            }
                        }
                        return seen;
                    };
                    results.add(clients.submit(client));
                }
                for (int i = 0; i < results.size(); i++) {
                    List<String> seen = results.get(i).get(60, TimeUnit.SECONDS);
                    for (int q = 0; q < 5; q++) {
                        assertEquals("pgsvc 127.0.0.1 " + (i * 10 + q), seen.get(q));
                    }
                }
            } finally {
                clients.shutdownNow();
            }
            Dns.HostRow row = p.pgsvc().pooler().dns().hosts().stream()
                    .filter(r -> r.hostname().equals("localhost")).findFirst().orElse(null);
            assertNotNull(row, () -> "localhost not in the resolver's cache: " + p.pgsvc().pooler().dns().hosts());
            assertTrue(row.addrs().startsWith("127.0.0.1:0"), row::toString);
            assertTrue(row.ttl() >= 0 && row.ttl() <= 15, row::toString);
        }
    }

    @Test
    void aNameThatDoesNotResolveGivesClientsAnErrorNotAHang() throws Exception {
        var settings = PoolerFixture.defaults();
        settings.put("query_wait_timeout", "1");
        settings.put("server_login_retry", "60");
        try (PoolerFixture p = PoolerFixture.builder(settings)
                .databases("nowhere = host=nonexistent.invalid port=5432 dbname=pgsvc\n").start()) {
            // The first client waits for the server that cannot come, as with a refused connect, until
            // query_wait_timeout.
            ServerErrorMessage first = fatal(() -> p.connect("nowhere", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    new Properties()).close());
            assertEquals("08P01", first.getSQLState(), first::toString);
            assertEquals("query_wait_timeout", first.getMessage(), first::toString);

            // The next one is told at once why, in PgBouncer's words (the resolver's own are in the log).
            ServerErrorMessage next = fatal(() -> p.connect("nowhere", PgCluster.MD5_USER, PgCluster.MD5_PASSWORD,
                    new Properties()).close());
            assertEquals("08P01", next.getSQLState(), next::toString);
            assertEquals("server login has been failing, cached error: server DNS lookup failed (server_login_retry)",
                    next.getMessage(), next::toString);

            Dns.HostRow row = p.pgsvc().pooler().dns().hosts().stream()
                    .filter(r -> r.hostname().equals("nonexistent.invalid")).findFirst().orElse(null);
            assertNotNull(row, () -> "the failure is not cached: " + p.pgsvc().pooler().dns().hosts());
            assertEquals("", row.addrs());
        }
    }

    private static ServerErrorMessage fatal(org.junit.jupiter.api.function.Executable action) {
        PSQLException e = assertThrows(PSQLException.class, action);
        ServerErrorMessage m = e.getServerErrorMessage();
        assertNotNull(m, () -> "expected an ErrorResponse, got a client-side error: " + e);
        assertEquals("FATAL", m.getSeverity(), m::toString);
        return m;
    }
}
