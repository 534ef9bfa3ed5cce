// Discovery, so that kubectl and Kubernetes clients can find the kinds:
// /version, /apis (legacy APIGroupList or aggregated discovery v2, by the Accept header),
// /apis/deployer.dev, /apis/deployer.dev/v1.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { KINDS } from '../../resources/index.js';
import { API_GROUP, API_VERSION, GROUP_VERSION } from '../../schemas/index.js';

export interface VersionInfo {
  gitVersion: string;
}

const Any = Type.Object({}, { additionalProperties: true });

/** The content type of an aggregated discovery answer; client-go switches on it. */
export const AGGREGATED_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** True when one of the Accept header's media ranges asks for APIGroupDiscoveryList v2. */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim());
    if (type !== 'application/json') return false;
    const p = new Map(params.map((kv) => kv.split('=').map((x) => x.trim()) as [string, string]));
    return p.get('g') === 'apidiscovery.k8s.io' && p.get('v') === 'v2' && p.get('as') === 'APIGroupDiscoveryList';
  });
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

/** apidiscovery.k8s.io/v2 APIGroupDiscoveryList: one group, one version, every kind. */
export function aggregatedDiscovery() {
  const resources = KINDS.map((k) => {
    const responseKind = { group: API_GROUP, version: API_VERSION, kind: k.kind };
    return {
      resource: k.plural,
      responseKind,
      scope: 'Namespaced',
      singularResource: k.singular,
      verbs: VERBS,
      shortNames: k.shortNames,
      categories: k.categories,
      ...(k.layout === 'spec-status' ? { subresources: [{ subresource: 'status', responseKind, verbs: STATUS_VERBS }] } : {}),
    };
  });
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: [{ metadata: { name: API_GROUP }, versions: [{ version: API_VERSION, resources, freshness: 'Current' }] }],
  };
}

export function discoveryRoutes(app: FastifyInstance, version: VersionInfo): void {
  // kubectl picks its own version from this answer: keep the minor at 32.
  app.get('/version', { schema: { tags: ['discovery'], summary: 'Server version, in Kubernetes\' shape', response: { 200: Any } } }, async () => ({
    major: '1',
    minor: '32',
    gitVersion: version.gitVersion,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsx',
    platform: `${process.platform}/${process.arch}`,
  }));

  const groupVersion = { groupVersion: GROUP_VERSION, version: API_VERSION };
  const group = { name: API_GROUP, versions: [groupVersion], preferredVersion: groupVersion };

  // Aggregated discovery (what kubectl 1.32 asks for first) is built once: the kinds are fixed.
  const aggregated = Buffer.from(JSON.stringify(aggregatedDiscovery()));
  app.get('/apis', { schema: { tags: ['discovery'], summary: 'API groups (APIGroupList, or APIGroupDiscoveryList v2 when the Accept header asks for it)', response: { 200: Any } } }, async (req, reply) => {
    reply.header('Vary', 'Accept');
    if (wantsAggregated(req.headers.accept)) {
      // A Buffer, so Fastify sends the content type exactly as set (it would append a
      // charset to a JSON type otherwise); client-go matches on it.
      return reply.header('Content-Type', AGGREGATED_TYPE).send(aggregated);
    }
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] };
  });

  app.get(`/apis/${API_GROUP}`, { schema: { tags: ['discovery'], summary: 'The deployer.dev group', response: { 200: Any } } }, async () => ({
    kind: 'APIGroup',
    apiVersion: 'v1',
    ...group,
  }));

  app.get(`/apis/${GROUP_VERSION}`, { schema: { tags: ['discovery'], summary: 'The kinds of deployer.dev/v1', response: { 200: Any } } }, async () => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: KINDS.flatMap((k) => {
      const main = {
        name: k.plural,
        singularName: k.singular,
        namespaced: true,
        kind: k.kind,
        verbs: VERBS,
        shortNames: k.shortNames,
        categories: k.categories,
      };
      if (k.layout !== 'spec-status') return [main];
      return [main, { name: `${k.plural}/status`, singularName: '', namespaced: true, kind: k.kind, verbs: STATUS_VERBS }];
    }),
  }));
}
