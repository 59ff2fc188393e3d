package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/**
 * As with PgBouncer, the OS user running pgsvc reaches the console over the Unix socket as user pgbouncer with no
 * password, with admin rights; over TCP the same login is an ordinary one and is refused.
 */
@ExtendWith(PgClusterExtension.class)
class ConsoleOwnUserTest {
    @Test
    void theOwnOsUserIsAnAdminOverTheUnixSocketOnly() throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-own");
        var settings = PoolerFixture.defaults();
        settings.put("unix_socket_dir", dir.toString());
        try (PoolerFixture p = PoolerFixture.start(settings)) {
            // SHOW FDS is for admins only.
            ProcResult unix = Tools.psqlArgs(null, "-X", "-A", "-t", "-h", dir.toString(), "-p",
                    Integer.toString(p.port()), "-U", "pgbouncer", "-d", "pgbouncer", "-c", "SHOW FDS");
            assertEquals(0, unix.exitCode(), unix.describe());
            ProcResult tcp = Tools.psqlArgs("not-the-password", "-X", "-A", "-t", "-h", "127.0.0.1", "-p",
                    Integer.toString(p.port()), "-U", "pgbouncer", "-d", "pgbouncer", "-c", "SHOW VERSION");
            assertNotEquals(0, tcp.exitCode(), tcp.describe());
            assertTrue(tcp.stderr().contains("password authentication failed"), tcp.describe());
        }
    }
}
