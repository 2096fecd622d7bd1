import { memoryPglite } from '../helpers/databases.js';
import { webAppConformanceSuite } from './conformance-suite.js';

webAppConformanceSuite('PGlite', memoryPglite);
