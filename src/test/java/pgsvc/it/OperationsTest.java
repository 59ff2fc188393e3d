package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * pgsvc under a service manager, in its own process: systemd's readiness protocol, syslog, SIGQUIT, and the unit file
 * in conf/.
 */
@ExtendWith(PgClusterExtension.class)
class OperationsTest {
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    private record Running(Process process, Path log, int port) implements AutoCloseable {
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

    /** Starts pgsvc with {@code extra} [pgbouncer] lines and {@code env}, and waits until it listens. */
    private static Running start(String extra, Map<String, String> env) throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-ops");
        Files.writeString(dir.resolve("userlist.txt"), PoolerFixture.USERLIST);
        int port = PoolerFixture.freePort();
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, "[databases]\npgsvc = host=127.0.0.1 port=" + PgCluster.shared().primary().port()
                + " dbname=pgsvc\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + port
                + "\nunix_socket_dir =\nauth_type = md5\nauth_file = " + dir.resolve("userlist.txt") + "\n" + extra);
        Path log = dir.resolve("out.log");
        ProcessBuilder pb = new ProcessBuilder(JarTest.command(ini.toString())).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().remove("NOTIFY_SOCKET");
        pb.environment().putAll(env);
        Process p = pb.start();
        Running r = new Running(p, log, port);
        Await.until(DEADLINE, "pgsvc listens", () -> !p.isAlive() || r.logText().contains("process up"));
        assertTrue(p.isAlive(), r.logText());
        return r;
    }

    private static ProcResult select(Running r) {
        return Tools.psql(r.port(), "pgsvc_md5", "md5pass", "pgsvc", "SELECT 1");
    }

    /** A socket standing in for systemd's notify socket: every datagram that arrives, in order. */
    private static final class NotifySocket implements AutoCloseable {
        private final EventLoopGroup group = new EpollEventLoopGroup(1);
        private final BlockingQueue<String> messages = new LinkedBlockingQueue<>();
        private final Channel channel;

        NotifySocket(String address) throws InterruptedException {
            channel = new Bootstrap().group(group).channel(EpollDomainDatagramChannel.class)
                    .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket packet) {
                            messages.add(packet.content().toString(StandardCharsets.UTF_8));
                        }
                    })
                    .bind(new DomainSocketAddress(address)).sync().channel();
        }

        String next() throws InterruptedException {
            String m = messages.poll(DEADLINE.toSeconds(), TimeUnit.SECONDS);
            assertNotNull(m, "no notification within " + DEADLINE);
            return m;
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void systemdHearsReadyReloadingAndStopping() throws Exception {
        Path socket = Files.createTempDirectory("pgsvc-notify").resolve("notify.sock");
        try (NotifySocket systemd = new NotifySocket(socket.toString());
             Running r = start("", Map.of("NOTIFY_SOCKET", socket.toString()))) {
            assertEquals("READY=1\nMAINPID=" + r.process().pid(), systemd.next());
            assertEquals("1", select(r).value(), "ready means listening");

            r.signal("HUP");
            String reloading = systemd.next();
            assertTrue(reloading.matches("RELOADING=1\nMONOTONIC_USEC=\\d+"), reloading);
            assertEquals("READY=1\nMAINPID=" + r.process().pid(), systemd.next());

            r.signal("TERM");
            assertEquals("STOPPING=1", systemd.next());
            assertTrue(r.process().waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS), r.logText());
            assertEquals(0, r.process().exitValue());
        }
    }

    @Test
    void anAbstractNotifySocketIsReachedToo() throws Exception {
        String name = "pgsvc-notify-" + UUID.randomUUID();
        try (NotifySocket systemd = new NotifySocket("\0" + name);
             Running r = start("", Map.of("NOTIFY_SOCKET", "@" + name))) {
            assertEquals("READY=1\nMAINPID=" + r.process().pid(), systemd.next());
        }
    }

    @Test
    void syslogGetsEachLineWithTheIdentAndFacility() throws Exception {
        DatagramSocket syslogd;
        try {
            // Where logback's SyslogAppender sends: UDP port 514 on localhost (any address family).
            syslogd = new DatagramSocket(514);
        } catch (SocketException e) {
            fail("this test plays the syslog daemon on UDP port 514, which needs root and a free port: " + e);
            return;
        }
        try (DatagramSocket s = syslogd;
             Running r = start("syslog = 1\nsyslog_ident = pgsvc-test\nsyslog_facility = local3\n", Map.of())) {
            s.setSoTimeout((int) DEADLINE.toMillis());
            List<String> seen = new ArrayList<>();
            String up = receiveUntil(s, "process up", seen);
            // local3 = 19, informational = 6: <19*8+6>, then the timestamp, host, ident[pid]: LOG message.
            assertTrue(up.startsWith("<158>"), up);
            assertTrue(up.contains(" pgsvc-test[" + r.process().pid() + "]: LOG process up: pgsvc "), up);

            // The syslog settings are reloadable, as in PgBouncer: a new ident and facility from the next line on.
            Path ini = r.log().resolveSibling("pooler.ini");
            Files.writeString(ini, Files.readString(ini).replace("syslog_ident = pgsvc-test", "syslog_ident = reloaded")
                    .replace("syslog_facility = local3", "syslog_facility = local4"));
            r.signal("HUP");
            String reloaded = receiveUntil(s, "RELOAD: configuration reloaded", seen);
            // local4 = 20: <20*8+6>.
            assertTrue(reloaded.startsWith("<166>"), reloaded);
            assertTrue(reloaded.contains(" reloaded[" + r.process().pid() + "]: LOG RELOAD"), reloaded);
        }
    }

    /**
     * The first datagram containing {@code text}, within {@link #DEADLINE}; every datagram received goes into
     * {@code seen}, for the failure message.
     */
    private static String receiveUntil(DatagramSocket s, String text, List<String> seen) throws IOException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        byte[] buf = new byte[8192];
        while (true) {
            DatagramPacket packet = new DatagramPacket(buf, buf.length);
            try {
                s.receive(packet);
            } catch (SocketTimeoutException e) {
                fail("no '" + text + "' line reached syslog; got " + seen);
            }
            String line = new String(packet.getData(), 0, packet.getLength(), StandardCharsets.UTF_8);
            seen.add(line);
            if (line.contains(text)) {
                return line;
            }
            assertTrue(System.nanoTime() < deadline, "no '" + text + "' line reached syslog; got " + seen);
        }
    }

    @Test
    void sigquitIsTheJvmsThreadDumpAndPgsvcCarriesOn() throws Exception {
        try (Running r = start("", Map.of())) {
            r.signal("QUIT");
            Await.until(DEADLINE, "the JVM prints its thread dump", () -> r.logText().contains("Full thread dump"));
            assertTrue(r.process().isAlive(), r.logText());
            assertEquals("1", select(r).value(), r.logText());
        }
    }

    /** conf/pgsvc.service, read as systemd reads unit files, and by systemd-analyze where it is installed. */
    @Test
    void theSystemdUnitIsValid() throws Exception {
        Path unit = Path.of("conf", "pgsvc.service");
        Map<String, Map<String, String>> sections = new LinkedHashMap<>();
        Map<String, String> current = null;
        int n = 0;
        for (String raw : Files.readAllLines(unit, StandardCharsets.UTF_8)) {
            n++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
                continue;
            }
            if (line.startsWith("[")) {
                assertTrue(line.matches("\\[(Unit|Service|Install)\\]"), "line " + n + ": section " + line);
                current = new LinkedHashMap<>();
                assertEquals(null, sections.put(line.substring(1, line.length() - 1), current), "line " + n);
                continue;
            }
            assertNotNull(current, "line " + n + " is outside a section");
            int eq = line.indexOf('=');
            assertTrue(eq > 0, "line " + n + " is not key=value: " + line);
            current.put(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
        }
        assertEquals(Set.of("Unit", "Service", "Install"), sections.keySet());
        Map<String, String> service = sections.get("Service");
        assertEquals(Set.of("Type", "User", "ExecStart", "ExecReload", "KillSignal", "TimeoutStopSec", "Restart",
                "LimitNOFILE"), service.keySet());
        assertEquals("notify", service.get("Type"));
        assertEquals("/bin/kill -HUP $MAINPID", service.get("ExecReload"));
        assertEquals("SIGINT", service.get("KillSignal"));
        assertTrue(service.get("LimitNOFILE").matches("\\d+"), service.get("LimitNOFILE"));
        assertTrue(service.get("ExecStart").matches("/\\S+/java( -X\\S+)* -jar /\\S+\\.jar /\\S+\\.ini"),
                service.get("ExecStart"));
        assertEquals(Set.of("Description", "Documentation", "After", "Wants"), sections.get("Unit").keySet());
        assertEquals(Map.of("WantedBy", "multi-user.target"), sections.get("Install"));

        Path analyze = Path.of("/usr/bin/systemd-analyze");
        if (Files.isExecutable(analyze)) {
            // It exits 0 even on unknown keys, so whatever it prints counts as a finding.
            Process p = new ProcessBuilder(analyze.toString(), "verify", unit.toAbsolutePath().toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            assertEquals("", out.strip());
        }
    }

    /**
     * The unit starts the JVM with the README's launcher options, and this JVM takes them: a misspelt or retired
     * option would stop the service from starting at all.
     */
    @Test
    void theLauncherOptionsAreTheReadmesAndThisJvmTakesThem() throws Exception {
        String execStart = Files.readAllLines(Path.of("conf", "pgsvc.service"), StandardCharsets.UTF_8).stream()
                .filter(l -> l.startsWith("ExecStart=")).findFirst().orElseThrow();
        List<String> unitOptions = javaOptions(execStart.substring("ExecStart=".length()));
        String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8).replace("\\\n", " ");
        String command = readme.lines().filter(l -> l.startsWith("java -XX")).findFirst().orElseThrow();
        assertEquals(javaOptions(command), unitOptions);
        assertTrue(unitOptions.size() > 1, () -> "options: " + unitOptions);

        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.addAll(unitOptions);
        cmd.add("-version");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + "\n" + out);
    }

    /** The options between {@code java} and {@code -jar} of a command line. */
    private static List<String> javaOptions(String commandLine) {
        List<String> words = List.of(commandLine.strip().split("\\s+"));
        assertTrue(words.get(0).endsWith("java"), commandLine);
        int jar = words.indexOf("-jar");
        assertTrue(jar > 0, commandLine);
        return words.subList(1, jar);
    }
}
