// Discovery, so that kubectl and Kubernetes clients can find the kinds:
// /version, /apis, /apis/deployer.dev, /apis/deployer.dev/v1.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { KINDS } from '../../resources/index.js';
import { API_GROUP, API_VERSION, GROUP_VERSION } from '../../schemas/index.js';

export interface VersionInfo {
  gitVersion: string;
}

const Any = Type.Object({}, { additionalProperties: true });

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

  app.get('/apis', { schema: { tags: ['discovery'], summary: 'API groups', response: { 200: Any } } }, async () => ({
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [group],
  }));

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
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        shortNames: k.shortNames,
        categories: k.categories,
      };
      if (k.layout !== 'spec-status') return [main];
      return [main, { name: `${k.plural}/status`, singularName: '', namespaced: true, kind: k.kind, verbs: ['get', 'patch', 'update'] }];
    }),
  }));
}
