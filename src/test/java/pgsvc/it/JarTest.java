package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import pgsvc.router.Main;
import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.Tools;

/**
 * pgsvc as an operator runs it: its own process, from target/pgsvc-pooler.jar when the build has packaged it, else
 * the same main class from the test classpath (Maven runs tests before packaging).
 */
@ExtendWith(PgClusterExtension.class)
class JarTest {
    private static final Path JAR = Path.of("target", "pgsvc-pooler.jar");
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    @BeforeAll
    static void writeUserlist() throws IOException {
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        System.out.println("JarTest runs pgsvc " + (jarIsCurrent() ? "from " + JAR : "from the test classpath"));
    }

    /** The signals pgsvc handles. */
    private static final String HANDLED_SIGNALS = "HUP,INT,TERM,USR1,USR2";

    /**
     * The command that runs pgsvc's main, with {@code args} after it. The signals pgsvc handles are reset to their
     * defaults first, as systemd starts it: a test run started in the background inherits INT ignored (and under
     * nohup HUP), which the JVM then leaves ignored.
     */
    static List<String> command(String... args) {
        return commandWithSignals("--default-signal=" + HANDLED_SIGNALS, args);
    }

    /** The same with another option of env(1) for the signals, such as {@code --ignore-signal=INT}. */
    static List<String> commandWithSignals(String signals, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add("env");
        cmd.add(signals);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        if (jarIsCurrent()) {
            cmd.add("-jar");
            cmd.add(JAR.toAbsolutePath().toString());
        } else {
            cmd.add("-cp");
            cmd.add(testClasspath());
            cmd.add("pgsvc.router.Main");
        }
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * True if the packaged jar exists and is not older than the classes this test runs against: a jar left over from
     * an earlier build (Maven packages after the tests) would test yesterday's code.
     */
    private static boolean jarIsCurrent() {
        if (!Files.isRegularFile(JAR)) {
            return false;
        }
        try {
            Path classes = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path compiled = Files.isDirectory(classes) ? classes.resolve("pgsvc/router/Main.class") : classes;
            return Files.getLastModifiedTime(JAR).compareTo(Files.getLastModifiedTime(compiled)) >= 0;
        } catch (IOException | URISyntaxException e) {
            throw new IllegalStateException("cannot tell whether " + JAR + " is current", e);
        }
    }

    /**
     * java.class.path, plus the URLs of any class loader the runner added on top (the JUnit console launcher loads
     * the test classpath in one of its own); Surefire's manifest-only jar works as it is.
     */
    private static String testClasspath() {
        Set<String> entries = new LinkedHashSet<>(
                List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        for (ClassLoader l = JarTest.class.getClassLoader(); l != null; l = l.getParent()) {
            if (l instanceof URLClassLoader u) {
                for (URL url : u.getURLs()) {
                    if (url.getProtocol().equals("file")) {
                        entries.add(new File(url.getPath()).getPath());
                    }
                }
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    private static String ini(int port, String extra) {
        return "[databases]\n"
                + "* = host=127.0.0.1 port=" + PgCluster.shared().primary().port() + "\n"
                + "\n[pgbouncer]\n"
                + "listen_addr = 127.0.0.1\n"
                + "listen_port = " + port + "\n"
                + "unix_socket_dir =\n"
                + "auth_type = md5\n"
                + "auth_file = " + dir.resolve("userlist.txt") + "\n"
                + "pool_mode = transaction\n"
                + "ignore_startup_parameters = extra_float_digits\n"
                + extra;
    }

    private static Process launch(Path log, String... args) throws IOException {
        return new ProcessBuilder(command(args))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
    }

    /** Runs pgsvc's main to completion and returns its exit code and output. */
    private static Finished runToEnd(String name, String... args) throws Exception {
        Path log = dir.resolve(name + ".log");
        Process p = launch(log, args);
        try {
            assertTrue(p.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), "pgsvc " + String.join(" ", args)
                    + " did not exit; output:\n" + Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
        return new Finished(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }

    private record Finished(int exitCode, String output) {
    }

    @Test
    void servesPsqlAndStopsOnSigterm() throws Exception {
        int port = PoolerFixture.freePort();
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, ini(port, ""));
        Path log = dir.resolve("pgsvc.log");
        Process p = launch(log, ini.toString());
        try {
            Await.until(DEADLINE, "pgsvc accepts on port " + port + " (or exits)",
                    () -> !p.isAlive() || accepts(port));
            assertTrue(p.isAlive(), "pgsvc exited with " + (p.isAlive() ? "" : p.exitValue()) + ":\n"
                    + Files.readString(log));

            assertEquals("pgsvc_md5 42", Tools.psql(port, "pgsvc_md5", "md5pass", "pgsvc",
                    "select current_user || ' ' || 40 + 2").value());

            p.destroy();
            assertTrue(p.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), "pgsvc exits on SIGTERM; output:\n"
                    + Files.readString(log));
            // PgBouncer 1.23+'s SIGTERM: stop accepting, exit cleanly once no client is left (none is here).
            assertEquals(0, p.exitValue(), Files.readString(log));
            assertTrue(Files.readString(log).contains("got SIGTERM"), Files.readString(log));
            assertFalse(accepts(port), "nothing listens on " + port + " after the exit");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void printsItsVersion() throws Exception {
        Finished f = runToEnd("version", "-V");
        assertEquals(0, f.exitCode(), f.output());
        assertTrue(Pattern.compile("(?m)^pgsvc \\d+\\.\\d+\\.\\d+").matcher(f.output()).find(), f.output());
    }

    @Test
    void anUnknownSettingIsRefusedWithItsFileAndLine() throws Exception {
        Path ini = dir.resolve("bad.ini");
        String text = ini(PoolerFixture.freePort(), "no_such_setting = 1\n");
        Files.writeString(ini, text);
        int line = (int) text.lines().takeWhile(l -> !l.startsWith("no_such_setting")).count() + 1;
        Finished f = runToEnd("bad", ini.toString());
        assertNotEquals(0, f.exitCode(), f.output());
        assertTrue(f.output().contains(ini + ":" + line), "names " + ini + ":" + line + ":\n" + f.output());
        assertTrue(f.output().contains("no_such_setting"), f.output());
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
