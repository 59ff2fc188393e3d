package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/** PgBouncer's signals on a pgsvc process: HUP reloads, TERM waits for clients, INT waits for servers. */
@ExtendWith(PgClusterExtension.class)
class SignalsTest {
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    private record Running(Process process, Path dir, Path ini, Path log, int port) implements AutoCloseable {
        String logText() throws IOException {
            return Files.readString(log, StandardCharsets.UTF_8);
        }

        void signal(String name) throws Exception {
            assertEquals(0, new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start().waitFor());
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    private static String ini(int port, Path dir, String extraDatabases) {
        int primary = PgCluster.shared().primary().port();
        return "[databases]\npgsvc = host=127.0.0.1 port=" + primary + " dbname=pgsvc\n" + extraDatabases
                + "\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port + "\nunix_socket_dir =\n"
                + "auth_type = md5\nauth_file = " + dir.resolve("userlist.txt") + "\npool_mode = transaction\n"
                + "ignore_startup_parameters = extra_float_digits\n";
    }

    private static Running start() throws Exception {
        return start(JarTest::command);
    }

    /** Starts pgsvc with the command {@code command} makes for the ini file. */
    private static Running start(Function<String, List<String>> command) throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-signals");
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        int port = PoolerFixture.freePort();
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, ini(port, dir, ""));
        Path log = dir.resolve("out.log");
        Process p = new ProcessBuilder(command.apply(ini.toString())).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        Running r = new Running(p, dir, ini, log, port);
        Await.until(DEADLINE, "pgsvc listens", () -> !p.isAlive() || r.logText().contains("process up"));
        assertTrue(p.isAlive(), r.logText());
        return r;
    }

    private static ProcResult psql(Running r, String db) {
        return Tools.psql(r.port(), "pgsvc_md5", "md5pass", db, "SELECT current_database()");
    }

    @Test
    void hupReloadsAndABadFileKeepsTheRunningConfiguration() throws Exception {
        try (Running r = start()) {
            assertTrue(psql(r, "added").stderr().contains("no such database: added"));
            Files.writeString(r.ini(), ini(r.port(), r.dir(), "added = host=127.0.0.1 port="
                    + PgCluster.shared().primary().port() + " dbname=pgsvc\n"));
            r.signal("HUP");
            Await.until(DEADLINE, "the reload is logged", () -> r.logText().contains("configuration reloaded"));
            assertEquals("pgsvc", psql(r, "added").value(), r.logText());

            Files.writeString(r.ini(), "[pgbouncer]\nno_such_setting = 1\n");
            r.signal("HUP");
            Await.until(DEADLINE, "the failed reload is logged", () -> r.logText().contains("RELOAD failed"));
            assertEquals("pgsvc", psql(r, "added").value(), "still serving the old configuration");
            assertTrue(r.logText().contains("pooler.ini:2"), r.logText());
        }
    }

    @Test
    void termWaitsForTheLastClientThenExits() throws Exception {
        try (Running r = start();
             Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.port()
                     + "/pgsvc?prepareThreshold=0", "pgsvc_md5", "md5pass")) {
            r.signal("TERM");
            Await.until(DEADLINE, "SIGTERM logged", () -> r.logText().contains("got SIGTERM"));
            try (Statement st = c.createStatement()) {
                st.execute("SELECT 1");
            }
            assertTrue(r.process().isAlive(), "a client is still connected");
            c.close();
            assertTrue(r.process().waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), r.logText());
            assertEquals(0, r.process().exitValue());
        }
    }

    @Test
    void intExitsOnceServersAreReleased() throws Exception {
        try (Running r = start();
             Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.port()
                     + "/pgsvc?prepareThreshold=0", "pgsvc_md5", "md5pass")) {
            try (Statement st = c.createStatement()) {
                st.execute("SELECT 1");
            }
            r.signal("INT");
            assertTrue(r.process().waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), r.logText());
            assertEquals(0, r.process().exitValue());
            assertTrue(r.logText().contains("got SIGINT"), r.logText());
        }
    }

    /**
     * A pgsvc started with INT ignored (as a shell without job control starts "pgsvc &") cannot take it back on
     * the JVM: it says so at start, and INT leaves it running.
     */
    @Test
    void anIntIgnoredAtStartIsReportedAndChangesNothing() throws Exception {
        try (Running r = start(ini -> JarTest.commandWithSignals("--ignore-signal=INT", ini))) {
            Await.until(DEADLINE, "the warning is logged", () -> r.logText().contains("SIGINT was ignored"));
            r.signal("INT");
            assertEquals("pgsvc", psql(r, "pgsvc").value(), r.logText());
            assertTrue(r.process().isAlive(), r.logText());
            assertFalse(r.logText().contains("got SIGINT"), r.logText());
            assertFalse(r.logText().contains("SIGTERM was ignored"), r.logText());
        }
    }
}
