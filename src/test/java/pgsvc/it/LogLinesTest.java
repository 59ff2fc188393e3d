package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
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
        try (PgsvcProcess p = PgsvcProcess.start("")) {
            String url = "jdbc:postgresql://127.0.0.1:" + p.port() + "/";
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
                String log = p.log();
                return login.matcher(log).find() && closing.matcher(log).find() && error.matcher(log).find();
            });
        }
    }

    /**
     * logrotate moves the logfile away and sends HUP: pgsvc then writes to a new file under the configured name, as
     * PgBouncer reopens its logfile, and nothing more goes to the moved one.
     */
    @Test
    void aHupAfterTheLogfileWasMovedOpensANewOne() throws Exception {
        try (PgsvcProcess p = PgsvcProcess.start("log_connections = 1")) {
            Path logfile = p.logfile();
            Path rotated = logfile.resolveSibling(logfile.getFileName() + ".1");
            Files.move(logfile, rotated);
            p.signal("HUP");
            Await.until(Duration.ofSeconds(20), "the reload is logged in a new logfile",
                    () -> p.log().contains("RELOAD: configuration reloaded"));
            String before = Files.readString(rotated);

            String url = "jdbc:postgresql://127.0.0.1:" + p.port() + "/pgsvc";
            try (Connection c = DriverManager.getConnection(url, PgCluster.MD5_USER, PgCluster.MD5_PASSWORD);
                    Statement st = c.createStatement()) {
                st.execute("SELECT 1");
            }
            Pattern login = Pattern.compile("login attempt: db=pgsvc user=" + PgCluster.MD5_USER);
            Await.until(Duration.ofSeconds(20), "the login is in the new logfile", () -> login.matcher(p.log()).find());
            assertEquals(before, Files.readString(rotated), "the moved logfile got more lines after the reload");
            assertFalse(login.matcher(before).find());
        }
    }
}
