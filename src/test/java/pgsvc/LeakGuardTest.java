package pgsvc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.util.List;

class LeakGuardTest {

    @Test
    void reportsALeakedBufferWithWhereItWasCreated() {
        List<String> earlier = LeakGuard.detectLeaks();
        assertEquals(List.of(), earlier, "leaks from before this test");

        leakOneBuffer();
        List<String> leaks = LeakGuard.detectLeaks();

        // detectLeaks() forgot what it returned, so this class's own afterAll check passes.
        assertEquals(1, leaks.size(), () -> String.join("\n", leaks));
        assertTrue(leaks.get(0).contains("LeakGuardTest.leakOneBuffer"), leaks.get(0));
        assertEquals(List.of(), LeakGuard.detectLeaks());
    }

    @Test
    void releasedBuffersAreNotReported() {
        ByteBuf buf = Unpooled.directBuffer(16).writeLong(42);
        buf.release();

        assertEquals(List.of(), LeakGuard.detectLeaks());
    }

    private static void leakOneBuffer() {
        // Direct: Unpooled heap buffers are left to the GC and not tracked by Netty at all.
        ByteBuf buf = Unpooled.directBuffer(16);
        buf.writeLong(42);
    }
}
