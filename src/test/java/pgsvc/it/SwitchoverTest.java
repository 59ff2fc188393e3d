package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

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
 * A planned switchover as operators run it: PAUSE on the console, stop the primary and promote the replica,
 * RESUME. Clients writing all along through the primary service see no error at all; their transactions wait
 * during the switchover and then run on the new primary. Also: SHOW HOSTS / SHOW SERVICES show the router's view.
 */
@ExtendWith(PgClusterExtension.class)
class SwitchoverTest {
    private static final int PRIMARY = PoolerFixture.freePort();
    private static final int REPLICA = PoolerFixture.freePort();
    private static final int DEFAULT = PoolerFixture.freePort();
    private static final int OFFLINE = PoolerFixture.freePort();
    private static RouterFixture router;

    @BeforeAll
    static void start() {
        var settings = PoolerFixture.defaults();
        settings.put("admin_users", "postgres");
        router = RouterFixture.start(PoolerFixture.builder(settings),
                c -> RouterFixture.pigstySections(c, PRIMARY, REPLICA, DEFAULT, OFFLINE));
        router.awaitMember("m1", "UP primary");
        router.awaitMember("m2", "UP replica");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    private static ProcResult console(String command) {
        return Tools.psql(router.pgsvc().port(), "postgres", "postgres", "pgbouncer", command);
    }

    @Test
    void consoleShowsTheRoutersView() {
        ProcResult hosts = console("SHOW HOSTS");
        assertEquals(0, hosts.exitCode(), hosts.describe());
        assertTrue(hosts.stdout().contains("m1|default|127.0.0.1|" + router.cluster().primary().port() + "|up|primary"),
                hosts.stdout());
        ProcResult services = console("SHOW SERVICES");
        assertTrue(services.stdout().contains("replica|" + REPLICA + "|replica|primary|pooler|roundrobin"),
                services.stdout());
        ProcResult version = console("SHOW VERSION");
        assertTrue(version.stdout().startsWith("PgBouncer 1."), version.stdout());
        ProcResult bad = console("SHOW NONSENSE");
        assertTrue(bad.stderr().contains("invalid command"), bad.describe());
    }

    @Test
    void pauseSwitchoverResumeWithoutAClientError() throws Exception {
        PgCluster cluster = router.cluster();
        try (Connection c = RouterFixture.connect(PRIMARY, ""); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE switchover_log (id serial primary key, worker int, port int)");
        }
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger commits = new AtomicInteger();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            int worker = w;
            Thread t = new Thread(() -> {
                try (Connection c = RouterFixture.connect(PRIMARY, "prepareThreshold=0&socketTimeout=120")) {
                    c.setAutoCommit(false);
                    try (Statement st = c.createStatement()) {
                        while (running.get()) {
                            st.execute("INSERT INTO switchover_log (worker, port) VALUES (" + worker
                                    + ", inet_server_port())");
                            c.commit();
                            commits.incrementAndGet();
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            workers.add(t);
            t.start();
        }
        Await.until(Duration.ofSeconds(20), "workers commit", () -> commits.get() > 100);

        ProcResult pause = console("PAUSE");
        assertEquals(0, pause.exitCode(), pause.describe());
        cluster.primary().stop();
        cluster.replica().promote();
        router.awaitMember("m2", "UP primary");
        int beforeResume = commits.get();
        ProcResult resume = console("RESUME");
        assertEquals(0, resume.exitCode(), resume.describe());
        Await.until(Duration.ofSeconds(30), "workers commit on the new primary",
                () -> commits.get() > beforeResume + 100 || !errors.isEmpty());
        running.set(false);
        for (Thread t : workers) {
            t.join(60_000);
        }
        assertEquals(List.of(), errors);
        try (Connection c = cluster.replica().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM switchover_log WHERE port = "
                     + cluster.replica().port())) {
            rs.next();
            assertTrue(rs.getInt(1) > 100, "rows written on the new primary: " + rs.getInt(1));
        }
    }
}
