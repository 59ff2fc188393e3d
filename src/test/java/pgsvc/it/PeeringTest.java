package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import pgsvc.testing.Await;
import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;

/**
 * PgBouncer's peering: two pgsvc processes of one [peers] group. Each gives its clients cancel keys that carry its
 * peer_id, and a CancelRequest that reaches the other one (as it may with so_reuseport or an L4 balancer) is passed
 * on to the process that issued the key. The processes here listen on two ports so that the request can be sent to
 * the wrong one on purpose.
 */
@ExtendWith(PgClusterExtension.class)
class PeeringTest {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final String SLEEP = "SELECT pg_sleep(60) /* peering */";

    private static Map<String, String> settings(int peerId, int port) {
        Map<String, String> s = PoolerFixture.defaults();
        s.put("peer_id", Integer.toString(peerId));
        s.put("listen_port", Integer.toString(port));
        s.put("admin_users", "postgres");
        return s;
    }

    /** The pid and secret of the BackendKeyData among the login messages. */
    private static int[] backendKey(List<WireClient.Message> login) {
        for (WireClient.Message m : login) {
            if (m.type() == 'K') {
                ByteBuffer b = ByteBuffer.wrap(m.body());
                return new int[] {b.getInt(), b.getInt()};
            }
        }
        throw new AssertionError("no BackendKeyData in " + login);
    }

    private static boolean sleeping() throws Exception {
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE query = '" + SLEEP
                     + "' AND state = 'active'")) {
            rs.next();
            return rs.getInt(1) > 0;
        }
    }

    /**
     * Logs in to {@code owner}, starts a long query there and sends its CancelRequest to {@code other}: the query
     * must end with PostgreSQL's 57014, which only the owner could have asked for.
     */
    private static void cancelThroughTheOtherPeer(PoolerFixture owner, PoolerFixture other, int ownerPeerId)
            throws Exception {
        try (WireClient client = WireClient.open(owner.port())) {
            List<WireClient.Message> login = client.login(PgCluster.MD5_USER, PgCluster.MD5_PASSWORD, Map.of());
            assertEquals('Z', login.get(login.size() - 1).type(), login.toString());
            int[] key = backendKey(login);
            byte[] bytes = ByteBuffer.allocate(8).putInt(key[0]).putInt(key[1]).array();
            assertEquals(ownerPeerId, (bytes[1] & 0xFF) | (bytes[2] & 0xFF) << 8, "peer_id in bytes 2 and 3");
            assertEquals(3, bytes[7] & 0x03, "a TTL of 3 in the low bits of the last byte");
            assertTrue(key[0] > 0, "the pid part is positive, as PgBouncer keeps it");

            client.sendQuery(SLEEP);
            Await.until(DEADLINE, "the query runs on PostgreSQL", PeeringTest::sleeping);
            try (WireClient cancel = WireClient.open(other.port())) {
                cancel.sendCancelRequest(key[0], key[1]);
                assertArrayEquals(new byte[0], cancel.readToEof(), "nothing is sent back on a cancel connection");
            }
            WireClient.Result result = client.readResult(true);
            assertEquals("57014", result.sqlState(), "the query was cancelled: " + result);
            assertEquals("1", client.query("SELECT 1").orThrow().values().get(0), "the client carries on");
        }
    }

    /** SHOW PEER_POOLS of {@code p}, each row as its five numbers. */
    private static List<List<Integer>> peerPools(PoolerFixture p) throws Exception {
        List<List<Integer>> rows = new ArrayList<>();
        try (Connection c = ConsoleQueries.console(p); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW PEER_POOLS")) {
            while (rs.next()) {
                rows.add(List.of(rs.getInt("peer_id"), rs.getInt("cl_active_cancel_req"),
                        rs.getInt("cl_waiting_cancel_req"), rs.getInt("sv_active_cancel"), rs.getInt("sv_login")));
            }
        }
        return rows;
    }

    @Test
    void aCancelRequestSentToTheWrongProcessIsForwardedToThePeerThatIssuedTheKey() throws Exception {
        int portA = PoolerFixture.freePort();
        int portB = PoolerFixture.freePort();
        String peers = "\n[peers]\n1 = host=127.0.0.1 port=" + portA + "\n2 = host=127.0.0.1 port=" + portB
                + " pool_size=3\n";
        try (PoolerFixture a = PoolerFixture.builder(settings(1, portA)).sections(peers).start();
             PoolerFixture b = PoolerFixture.builder(settings(2, portB)).sections(peers).start()) {
            assertEquals(List.of(), peerPools(b), "no peer pool before the first forward");
            cancelThroughTheOtherPeer(a, b, 1);
            cancelThroughTheOtherPeer(b, a, 2);

            // B made a pool for peer 1 when it forwarded, and it is idle again once A closed the connection.
            Await.until(DEADLINE, "B's forward to peer 1 is over", () -> peerPools(b).equals(
                    List.of(List.of(1, 0, 0, 0, 0))));
            try (Connection c = ConsoleQueries.console(a); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SHOW PEERS")) {
                List<String> rows = new ArrayList<>();
                while (rs.next()) {
                    rows.add(rs.getInt("peer_id") + " " + rs.getString("host") + " " + rs.getInt("port") + " "
                            + rs.getInt("pool_size"));
                }
                assertEquals(List.of("1 127.0.0.1 " + portA + " 20", "2 127.0.0.1 " + portB + " 3"), rows);
            }
        }
    }

    @Test
    void aPeerOnAUnixSocketIsReachedThere() throws Exception {
        Path socketDir = Files.createTempDirectory("pgsvc-peer");
        int portA = PoolerFixture.freePort();
        int portB = PoolerFixture.freePort();
        Map<String, String> a1 = settings(1, portA);
        a1.put("unix_socket_dir", socketDir.toString());
        // Only B needs to know where A is; A is reached over its Unix socket, as PgBouncer's docs suggest.
        String peersOfB = "\n[peers]\n1 = host=" + socketDir + " port=" + portA + "\n";
        try (PoolerFixture a = PoolerFixture.builder(a1).start();
             PoolerFixture b = PoolerFixture.builder(settings(2, portB)).sections(peersOfB).start()) {
            cancelThroughTheOtherPeer(a, b, 1);
        }
    }
}
