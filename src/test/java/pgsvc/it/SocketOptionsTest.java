package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/** The Unix socket is created in unix_socket_dir with unix_socket_mode (octal in the file, as PgBouncer reads it). */
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
}
