import { memoryPglite } from '../helpers/databases.js';
import { compactSuite } from './compact-suite.js';

compactSuite('PGlite', memoryPglite);
