package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * The admin console as operators and exporters use it: SHOW POOLS/DATABASES/CONFIG/STATE with PgBouncer's columns,
 * waiting clients served in arrival order, and who may do what.
 */
@ExtendWith(PgClusterExtension.class)
class ConsoleTest {
    private static PoolerFixture pgsvc;

    @BeforeAll
    static void start() throws Exception {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("default_pool_size", "1");
        settings.put("admin_users", "postgres");
        settings.put("stats_users", "pgsvc_scram");
        pgsvc = PoolerFixture.start(settings);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS console_order");
            st.execute("CREATE TABLE console_order (id serial primary key, who text)");
            st.execute("GRANT ALL ON console_order, console_order_id_seq TO pgsvc_md5");
        }
    }

    @AfterAll
    static void stop() {
        pgsvc.close();
    }

    private static ProcResult console(String user, String password, String command) {
        return Tools.psql(pgsvc.port(), user, password, "pgbouncer", command);
    }

    private static ProcResult admin(String command) {
        return console("postgres", "postgres", command);
    }

    private static String header(String command) {
        ProcResult r = Tools.run(Duration.ofSeconds(30), Map.of("PGPASSWORD", "postgres"), "psql", "-X", "-A",
                "-h", "127.0.0.1", "-p", Integer.toString(pgsvc.port()), "-U", "postgres", "-c", command, "pgbouncer");
        return r.stdout().lines().findFirst().orElse("");
    }

    @Test
    void showCommandsHavePgBouncersColumns() {
        assertEquals("database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|"
                + "sv_active_cancel|sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|"
                + "pool_mode|load_balance_hosts", header("SHOW POOLS"));
        assertEquals("name|host|port|database|force_user|pool_size|min_pool_size|reserve_pool_size|"
                + "server_lifetime|pool_mode|load_balance_hosts|max_connections|current_connections|"
                + "max_client_connections|current_client_connections|paused|disabled", header("SHOW DATABASES"));
        assertEquals("key|value|default|changeable", header("SHOW CONFIG"));
        assertTrue(admin("SHOW CONFIG").stdout().contains("default_pool_size|1|20|yes"));
        assertTrue(admin("SHOW STATE").stdout().contains("paused|no"));
    }

    @Test
    void waitingClientsAreServedInArrivalOrder() throws Exception {
        try (Connection holder = pgsvc.connect("pgsvc_md5", "md5pass"); Statement hold = holder.createStatement()) {
            holder.setAutoCommit(false);
            hold.execute("SELECT 1");
            List<Thread> waiters = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                String who = "w" + i;
                Thread t = new Thread(() -> {
                    try (Connection c = pgsvc.connect("pgsvc_md5", "md5pass"); Statement st = c.createStatement()) {
                        st.execute("INSERT INTO console_order (who) VALUES ('" + who + "')");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                t.start();
                waiters.add(t);
                int queued = i;
                // The next waiter starts only once this one is in the queue, so the arrival order is known.
                Await.until(Duration.ofSeconds(20), who + " queued", () -> admin("SHOW POOLS").stdout().lines()
                        .anyMatch(l -> l.startsWith("pgsvc|pgsvc_md5|") && l.split("\\|")[3].equals("" + queued)));
            }
            holder.rollback();
            for (Thread t : waiters) {
                t.join(60_000);
            }
        }
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement();
             var rs = st.executeQuery("SELECT string_agg(who, ',' ORDER BY id) FROM console_order")) {
            rs.next();
            assertEquals("w1,w2,w3", rs.getString(1));
        }
    }

    @Test
    void statsUsersMayOnlyLookAndOthersMayNotEnter() {
        ProcResult look = console("pgsvc_scram", "scrampass", "SHOW VERSION");
        assertTrue(look.stdout().startsWith("PgBouncer"), look.describe());
        ProcResult pause = console("pgsvc_scram", "scrampass", "PAUSE");
        assertTrue(pause.stderr().contains("admin access needed"), pause.describe());
        ProcResult other = console("pgsvc_md5", "md5pass", "SHOW VERSION");
        assertTrue(other.stderr().contains("not allowed"), other.describe());
    }
}
