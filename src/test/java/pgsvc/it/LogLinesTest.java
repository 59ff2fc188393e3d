package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * The log lines that log-based tooling parses, in PgBouncer's wording, written by a real pgsvc process to its
 * logfile: a login, a disconnection with its reason and age, and a pooler error.
 */
@ExtendWith(PgClusterExtension.class)
class LogLinesTest {
    private static final String PREFIX = "^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\S+ \\[\\d+\\] ";

    @Test
    void loginsDisconnectionsAndPoolerErrorsAreLoggedAsPgBouncerLogsThem() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-log");
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        int port = PoolerFixture.freePort();
        Path logfile = dir.resolve("pgsvc.log");
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, "[databases]\npgsvc = host=127.0.0.1 port=" + PgCluster.shared().primary().port()
                + " dbname=pgsvc\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port
                + "\nunix_socket_dir =\nauth_type = md5\nauth_file = " + dir.resolve("userlist.txt")
                + "\npool_mode = transaction\nignore_startup_parameters = extra_float_digits\n"
                + "logfile = " + logfile + "\n");
        Process p = new ProcessBuilder(JarTest.command(ini.toString())).redirectErrorStream(true)
                .redirectOutput(dir.resolve("out.log").toFile()).start();
        try {
            Await.until(Duration.ofSeconds(60), "pgsvc is up", () -> !p.isAlive() || read(logfile).contains(
                    "process up"));
            assertTrue(p.isAlive(), () -> read(dir.resolve("out.log")));
            String url = "jdbc:postgresql://127.0.0.1:" + port + "/";
            try (Connection c = DriverManager.getConnection(url + "pgsvc", PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD); Statement st = c.createStatement()) {
                st.execute("SELECT 1");
            }
            assertThrows(SQLException.class, () -> DriverManager.getConnection(url + "nosuchdb", PgCluster.MD5_USER,
                    PgCluster.MD5_PASSWORD).close());
            String who = "C-\\d+: pgsvc/" + PgCluster.MD5_USER + "@127\\.0\\.0\\.1:\\d+ ";
            Pattern login = Pattern.compile(PREFIX + "LOG " + who + "login attempt: db=pgsvc user="
                    + PgCluster.MD5_USER + " tls=no$", Pattern.MULTILINE);
            Pattern closing = Pattern.compile(PREFIX + "LOG " + who
                    + "closing because: client close request \\(age=\\d+s\\)$", Pattern.MULTILINE);
            Pattern error = Pattern.compile(PREFIX + "WARNING C-\\d+: nosuchdb/" + PgCluster.MD5_USER
                    + "@127\\.0\\.0\\.1:\\d+ pooler error: no such database: nosuchdb$", Pattern.MULTILINE);
            Await.until(Duration.ofSeconds(20), "the three lines are in the logfile", () -> {
                String log = read(logfile);
                return login.matcher(log).find() && closing.matcher(log).find() && error.matcher(log).find();
            });
        } finally {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
