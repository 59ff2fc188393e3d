package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** A pool's encoded ParameterStatus set, as each client is told it at login. */
class WelcomeTest {
    private final TrackedParams params = new TrackedParams(List.of());
    private final Welcome welcome = new Welcome(List.of(
            Map.entry("application_name", ""),
            Map.entry("client_encoding", "UTF8"),
            Map.entry("server_version", "15.8"),
            Map.entry("TimeZone", "Etc/UTC")), params);

    @Test
    void aClientWithoutValuesGetsTheServersAndRecordsThem() {
        String[] vars = params.newValues();
        assertEquals(List.of("application_name=", "client_encoding=UTF8", "server_version=15.8", "TimeZone=Etc/UTC"),
                written(vars));
        assertEquals("UTF8", vars[params.indexOf("client_encoding")]);
        assertSame(params.canonical("UTF8"), vars[params.indexOf("client_encoding")],
                "the shared instance, so that the hand-off compares by identity");
        assertEquals("Etc/UTC", vars[params.indexOf("TimeZone")]);
        assertNull(vars[params.indexOf("DateStyle")], "the server did not report it");
    }

    @Test
    void aClientsOwnValuesAreReportedInTheirPlaces() {
        String[] vars = params.newValues();
        vars[params.indexOf("application_name")] = "pgbench";
        vars[params.indexOf("TimeZone")] = new String("Etc/UTC");
        assertEquals(List.of("application_name=pgbench", "client_encoding=UTF8", "server_version=15.8",
                "TimeZone=Etc/UTC"), written(vars));
        assertEquals("pgbench", vars[params.indexOf("application_name")]);
    }

    @Test
    void sizeIsTheServersSetEncoded() {
        ByteBuf out = Unpooled.buffer();
        welcome.write(out, params.newValues());
        assertEquals(out.readableBytes(), welcome.size());
        out.release();
    }

    /** The messages written for these client values, each as "name=value", checked frame by frame. */
    private List<String> written(String[] vars) {
        ByteBuf out = Unpooled.buffer();
        welcome.write(out, vars);
        List<String> seen = new ArrayList<>();
        while (out.isReadable()) {
            assertEquals('S', out.readByte());
            int length = out.readInt();
            ByteBuf body = out.readSlice(length - 4);
            String[] parts = body.toString(StandardCharsets.UTF_8).split("\0", -1);
            assertEquals(3, parts.length, "name, value, and the empty rest after the second terminator");
            seen.add(parts[0] + "=" + parts[1]);
        }
        out.release();
        return seen;
    }
}
