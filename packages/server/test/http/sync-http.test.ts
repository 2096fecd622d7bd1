import { memoryPglite } from '../helpers/databases.js';
import { syncHttpSuite } from './sync-http-suite.js';

syncHttpSuite('PGlite', memoryPglite);
