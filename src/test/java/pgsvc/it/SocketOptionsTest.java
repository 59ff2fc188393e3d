package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * The Unix socket is created in unix_socket_dir with unix_socket_mode (octal in the file, as PgBouncer reads it);
 * listen_addr = * takes IPv4 and IPv6 clients, and HBA sees an IPv4 client as IPv4.
 */
@ExtendWith(PgClusterExtension.class)
class SocketOptionsTest {
    @Test
    void unixSocketModeAndKeepaliveSettingsApply() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-sock");
        var settings = PoolerFixture.defaults();
        settings.put("unix_socket_dir", dir.toString());
        settings.put("unix_socket_mode", "0700");
        settings.put("tcp_keepidle", "30");
        settings.put("tcp_keepintvl", "5");
        settings.put("tcp_keepcnt", "3");
        settings.put("tcp_user_timeout", "10000");
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            Path socket = dir.resolve(".s.PGSQL." + p.port());
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            ProcResult r = Tools.psql(p.port(), "pgsvc_md5", "md5pass", "pgsvc", "SELECT 42");
            assertEquals("42", r.value(), r.describe());
        }
    }

    @Test
    void listenAddrStarTakesIpv4AndIpv6Clients() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-hba");
        Path hba = dir.resolve("hba.conf");
        // IPv4 clients are trusted, IPv6 ones must give the md5 password: each rule can only match its family.
        Files.writeString(hba, "host all all 127.0.0.1/32 trust\nhost all all ::1/128 md5\n");
        var settings = PoolerFixture.defaults();
        settings.put("listen_addr", "*");
        settings.put("auth_type", "hba");
        settings.put("auth_hba_file", hba.toString());
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            ProcResult v4 = psqlAt("127.0.0.1", p.port(), "wrong-password", "SELECT 4");
            assertEquals("4", v4.value(), v4.describe());
            ProcResult v6 = psqlAt("::1", p.port(), "md5pass", "SELECT 6");
            assertEquals("6", v6.value(), v6.describe());
            ProcResult v6wrong = psqlAt("::1", p.port(), "wrong-password", "SELECT 6");
            assertTrue(v6wrong.stderr().contains("password authentication failed"), v6wrong.describe());
        }
    }

    private static ProcResult psqlAt(String host, int port, String password, String sql) {
        return Tools.psqlArgs(password, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p",
                Integer.toString(port), "-U", "pgsvc_md5", "-d", "pgsvc", "-c", sql);
    }
}
