// The official MCP TypeScript SDK's client against lmx's /mcp: lists the
// tools, calls one that works and one with bad arguments, and prints what it
// saw as JSON (tests/e2e/test_skills.py checks it).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.argv[2];
const client = new Client({ name: 'lmx-e2e', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const out = { server: client.getServerVersion(), protocol: client.transport.protocolVersion ?? null };
const { tools } = await client.listTools();
out.tools = tools.map((t) => ({ name: t.name, title: t.title, hasSchema: !!t.inputSchema }));
out.echo = await client.callTool({ name: 'demo__echo', arguments: { text: 'from the sdk' } });
out.bad = await client.callTool({ name: 'demo__search', arguments: { query: '!!', options: { mode: 'slow' } } });
try {
  await client.callTool({ name: 'no__such', arguments: {} });
  out.unknown = 'no error';
} catch (e) {
  out.unknown = String(e.message);
}
await client.close();
console.log(JSON.stringify(out));
