package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;

/**
 * A pgsvc process of a test's own, started as users start it (the jar's Main), in front of the shared primary's
 * database pgsvc with the fixture's userlist, logging to a file: for what only a real process shows, its log.
 */
final class PgsvcProcess implements AutoCloseable {
    private final Path dir;
    private final Path logfile;
    private final int port;
    private final Process process;

    private PgsvcProcess(Path dir, Path logfile, int port, Process process) {
        this.dir = dir;
        this.logfile = logfile;
        this.port = port;
        this.process = process;
    }

    /** Starts it with md5 auth, transaction pooling and {@code moreSettings} ([pgbouncer] lines), and waits for it. */
    static PgsvcProcess start(String moreSettings) throws IOException {
        Path dir = Files.createTempDirectory("pgsvc-process");
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        int port = PoolerFixture.freePort();
        Path logfile = dir.resolve("pgsvc.log");
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, "[databases]\npgsvc = host=127.0.0.1 port=" + PgCluster.shared().primary().port()
                + " dbname=pgsvc\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port
                + "\nunix_socket_dir =\nauth_type = md5\nauth_file = " + dir.resolve("userlist.txt")
                + "\npool_mode = transaction\nignore_startup_parameters = extra_float_digits\n"
                + "logfile = " + logfile + "\n" + moreSettings);
        Process p = new ProcessBuilder(JarTest.command(ini.toString())).redirectErrorStream(true)
                .redirectOutput(dir.resolve("out.log").toFile()).start();
        PgsvcProcess started = new PgsvcProcess(dir, logfile, port, p);
        Await.until(Duration.ofSeconds(60), "pgsvc is up", () -> !p.isAlive() || started.log().contains(
                "process up"));
        assertTrue(p.isAlive(), () -> read(dir.resolve("out.log")));
        return started;
    }

    int port() {
        return port;
    }

    /** What it has logged so far. */
    String log() {
        return read(logfile);
    }

    Path logfile() {
        return logfile;
    }

    /** kill -NAME, as an operator or logrotate sends it. */
    void signal(String name) throws IOException, InterruptedException {
        assertTrue(new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start().waitFor() == 0);
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
